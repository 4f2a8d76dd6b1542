"""GET /health and /ready: the process answers; the database and migrations can be used."""

from __future__ import annotations

import logging

from flask_restx import Namespace, Resource

from api import exceptions
from api.openapi import model
from api.resources.problems_doc import documents_problems
from api.schemas.health import ImportProblemSchema, ReadinessSchema
from api.service import service

ns = Namespace("health", path="/", description="Liveness and readiness")
log = logging.getLogger(__name__)

readiness_model = model(ns, ReadinessSchema)
_readiness = ReadinessSchema()  # made once: /ready is polled
_import_problem = ImportProblemSchema()


@ns.route("/health")
@ns.doc(security=[])  # a liveness probe needs no token
class Health(Resource):
    def get(self):
        """Answer 200 while the process serves requests."""
        return {"status": "ok"}


@ns.route("/ready")
@ns.doc(security=[])  # load balancers probe without a token: the answer names no URL or revision
class Ready(Resource):
    @ns.response(200, "Ready", readiness_model)
    @documents_problems(ns, exceptions.NotReady)
    def get(self):
        """Answer 200 when the database answers and the migrations directory loads."""
        svc = service()
        checks = {
            "database": _check("database", svc.database_heads),
            "migrations": _check("migrations", svc.graph),
        }
        problem = _imports(svc) if checks["migrations"] == "ok" else None
        if problem is not None:
            checks["migrations"] = "unavailable"
        failed = [name for name, state in checks.items() if state != "ok"]
        if failed:
            said = f" {problem}." if problem else ""
            extra = {"import_error": _import_problem.dump(problem)} if problem else {}
            raise exceptions.NotReady(
                f"Unavailable: {' and '.join(failed)}.{said} The service log says why.",
                checks=checks,
                **extra,
            )
        return _readiness.dump(checks)


def _check(name: str, probe) -> str:
    # Any failure means "not ready", never a 500; the reason (which may name the database's
    # URL or a file) goes to the log, not to an unauthenticated caller.
    try:
        probe()
    except Exception as exc:
        log.warning("ready: %s unavailable: %s", name, exc)
        return "unavailable"
    return "ok"


def _imports(svc):
    """What a write would trip on first: a module env.py or a revision file imports that this
    process cannot find (safe to show: a relative file name and Python's one line)."""
    try:
        problem = svc.import_problem()
    except Exception as exc:
        log.warning("ready: the import check failed: %s", exc)
        return None  # the graph loaded; a write will say what is wrong
    if problem is not None:
        log.warning("ready: migrations unavailable: %s", problem)
    return problem
