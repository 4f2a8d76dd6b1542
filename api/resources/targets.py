"""GET /targets (the fleet matrix) and every per-database call again under /targets/<name>."""

from __future__ import annotations

from flask import current_app
from flask_restx import Namespace, Resource

from api.exceptions import InvalidRequest
from api.fleet.matrix import read_rows
from api.fleet.scope import PREFIX_RULE
from api.openapi import model, query_params
from api.resources import parsing
from api.resources.problems_doc import documents_problems
from api.schemas.targets import TargetListQuery, TargetPageSchema

ns = Namespace("targets", description="Many databases, one migrations directory")
page_model = model(ns, TargetPageSchema)
_page = TargetPageSchema()


@ns.route("")
class TargetList(Resource):
    @ns.doc(params=query_params(TargetListQuery))
    @ns.response(200, "One row per target, in the configured order", page_model)
    @documents_problems(ns, InvalidRequest)
    def get(self):
        """List the targets with where each stands; one that does not answer is a row."""
        args = parsing.query(TargetListQuery())
        app = current_app._get_current_object()
        fleet = app.extensions["migrateway_targets"]
        timeout = app.config["TARGET_READ_TIMEOUT"]
        names = [t.name for t in fleet.targets]
        filters = {k: args[k] for k in ("up_to_date", "reachable") if k in args}
        window = slice(args["offset"], args["offset"] + args["limit"])
        if not filters:  # only the page's targets need reading
            rows, total = read_rows(app, fleet, names[window], timeout), len(names)
        else:
            every = read_rows(app, fleet, names, timeout)
            kept = [r for r in every if all(getattr(r, k) is v for k, v in filters.items())]
            rows, total = kept[window], len(kept)
        return _page.dump({"items": rows, "total": total, **args})


# The calls that act on one database; each is registered again under /targets/<name>.
SCOPED_NAMESPACES = ("revisions", "graph", "status", "migrations", "plan", "operations", "verify")


def add_scoped_routes(namespaces: list[Namespace]) -> None:
    """Register each resource of ``namespaces`` (those named in SCOPED_NAMESPACES) at its URL
    under ``/targets/<target>`` too: the same resource, the same answers and problems, with
    ``service()`` picking the target's service (api/fleet/scope.py)."""
    for source in namespaces:
        if source.name not in SCOPED_NAMESPACES:
            continue
        base = source.path.rstrip("/")
        for route in source.resources:
            urls = [PREFIX_RULE.removeprefix("/targets") + base + url for url in route.urls]
            if all(url in _scoped_urls() for url in urls):
                continue  # create_app ran before in this process
            kwargs = {k: v for k, v in route.kwargs.items() if k != "endpoint"}
            ns.add_resource(route.resource, *urls, route_doc=route.route_doc, **kwargs)


def _scoped_urls() -> set[str]:
    return {url for route in ns.resources for url in route.urls}
