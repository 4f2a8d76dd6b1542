"""GET /revisions and GET /revisions/<rev>: the revision graph."""

from __future__ import annotations

from flask_restx import Namespace, Resource

from api.exceptions import AmbiguousRevision, InvalidRequest, MultipleHeads, UnknownRevision
from api.openapi import model, query_params
from api.resources import parsing
from api.resources.problems_doc import UNAVAILABLE, documents_problems
from api.schemas.revisions import (
    RevisionListQuery,
    RevisionPageSchema,
    RevisionSchema,
    dump_page,
    dump_revision,
)
from api.service import service

ns = Namespace("revisions", description="The revision scripts of the migrations directory")

page_model = model(ns, RevisionPageSchema)
revision_model = model(ns, RevisionSchema)


@ns.route("")
class RevisionList(Resource):
    @ns.doc(params=query_params(RevisionListQuery))
    @ns.response(200, "The revisions, newest first", page_model)
    @documents_problems(ns, InvalidRequest, *UNAVAILABLE)
    def get(self):
        """List the revision graph, newest first, with what the database has applied."""
        args = parsing.query(RevisionListQuery())
        return dump_page(service().history(**args))


@ns.route("/<string:rev>")
@ns.param("rev", "A revision id, unique prefix, or symbol: head, base, <label>@head")
class Revision(Resource):
    @ns.response(200, "The revision", revision_model)
    @documents_problems(
        ns, InvalidRequest, AmbiguousRevision, UnknownRevision, MultipleHeads, *UNAVAILABLE
    )
    def get(self, rev: str):
        """Show one revision."""
        return dump_revision(service().show(parsing.path_revision(rev)))
