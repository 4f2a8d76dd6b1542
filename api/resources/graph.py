"""GET /revisions/graph: the revision graph as a picture, marked with where the database is."""

from __future__ import annotations

from flask import Response, request
from flask_restx import Namespace, Resource

from api.exceptions import InvalidRequest, RendererUnavailable, RenderTimedOut
from api.graph_picture import FORMATS, draw, renderer
from api.openapi import query_params
from api.problems import PROBLEM_MEDIA_TYPE
from api.resources import parsing
from api.resources.problems_doc import UNAVAILABLE, documents_problems
from api.schemas.graph import GraphQuery
from api.service import service
from api.service.graph_facts import graph_facts

# Its own namespace (Swagger groups it apart) under /revisions: Werkzeug matches the fixed
# /revisions/graph before /revisions/<rev>.
ns = Namespace("graph", path="/revisions", description="The revision graph as a picture")
_BY_MEDIA_TYPE = {media_type: fmt for fmt, media_type in FORMATS.items()}
# An SVG opened on its own is a document: it may run nothing and fetch nothing.
_SVG_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}


@ns.route("/graph")
class RevisionGraphPicture(Resource):
    @ns.doc(params=query_params(GraphQuery))
    @ns.produces([*FORMATS.values(), PROBLEM_MEDIA_TYPE])
    @ns.response(
        200,
        "The graph: heads, bases, branch points, merges, labels; and the "
        "revisions applied, current and pending, with a legend",
    )
    @documents_problems(ns, InvalidRequest, RendererUnavailable, RenderTimedOut, *UNAVAILABLE)
    def get(self):
        """Draw the revision graph as DOT, SVG or Mermaid, marked with where the database is."""
        args = parsing.query(GraphQuery())
        fmt = args.get("format") or _negotiated()
        body = draw(graph_facts(service()), fmt, renderer(), args.get("limit"))
        media_type = FORMATS[fmt]
        headers = _SVG_HEADERS if fmt == "svg" else None
        charset = "" if fmt == "svg" else "; charset=utf-8"
        return Response(body, content_type=media_type + charset, headers=headers)


def _negotiated() -> str:
    """The format the Accept header prefers; DOT when it names none of them (curl's */*)."""
    best = request.accept_mimetypes.best_match(list(_BY_MEDIA_TYPE), default=FORMATS["dot"])
    return _BY_MEDIA_TYPE[best]
