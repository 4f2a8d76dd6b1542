"""GET /current, /heads and /branches: where the database and the scripts stand."""

from __future__ import annotations

from flask_restx import Namespace, Resource

from api.exceptions import MultipleHeads, RevisionConflict
from api.openapi import model
from api.resources.preconditions import etag
from api.resources.problems_doc import UNAVAILABLE, documents_problems
from api.schemas.revisions import BranchListSchema, RevisionListSchema
from api.schemas.status import CurrentSchema
from api.service import service

ns = Namespace("status", path="/", description="The database's revision and the script heads")

current_model = model(ns, CurrentSchema)
heads_model = model(ns, RevisionListSchema)
branches_model = model(ns, BranchListSchema)

# Made once: building a schema copies its fields, which cost more than a whole dump here.
_revisions, _branches = RevisionListSchema(), BranchListSchema()
# A single database's answer has no binds (and its hot path does not pay for them).
_current, _current_binds = CurrentSchema(exclude=("binds",)), CurrentSchema()


@ns.route("/current")
class Current(Resource):
    @ns.response(200, "The database's revision", current_model)
    @documents_problems(ns, RevisionConflict, MultipleHeads, *UNAVAILABLE)
    def get(self):
        """Show the database's revision, the heads, and what an upgrade would apply."""
        state = service().current()
        schema = _current if state.binds is None else _current_binds
        return schema.dump(state), 200, {"ETag": etag(state.current)}


@ns.route("/heads")
class Heads(Resource):
    @ns.response(200, "The head revisions", heads_model)
    @documents_problems(ns, *UNAVAILABLE)
    def get(self):
        """List the head revisions (flask db heads)."""
        return _revisions.dump({"items": service().heads()})


@ns.route("/branches")
class Branches(Resource):
    @ns.response(200, "The branch points", branches_model)
    @documents_problems(ns, *UNAVAILABLE)
    def get(self):
        """List the branch points and what follows each (flask db branches)."""
        return _branches.dump({"items": service().branches()})
