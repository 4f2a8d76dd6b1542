"""GET /verify and POST /verify/accept: are the applied revisions still the files that ran?"""

from __future__ import annotations

from flask import g, request
from flask_restx import Namespace, Resource

from api import exceptions
from api.openapi import model
from api.resources import parsing
from api.resources.problems_doc import UNAVAILABLE, documents_problems
from api.schemas.verify import AcceptRequest, AcceptResult, VerifySchema
from api.service import service
from api.service.context import CallContext

ns = Namespace("verify", path="/", description="Integrity of what was applied, and drift")

_verify, _request, _accepted = VerifySchema(), AcceptRequest(), AcceptResult()


@ns.route("/verify")
class Verify(Resource):
    @ns.response(200, "Each applied revision's status, and the drift", model(ns, VerifySchema))
    @documents_problems(ns, *UNAVAILABLE)
    def get(self):
        """Check every applied revision's file against the file as it was applied, and drift."""
        return _verify.dump(service().verify())


@ns.route("/verify/accept")
class VerifyAccept(Resource):
    @ns.expect(model(ns, AcceptRequest))
    @ns.response(200, "Recorded as accepted", model(ns, AcceptResult))
    @documents_problems(
        ns,
        exceptions.InvalidRequest,
        exceptions.AmbiguousRevision,
        exceptions.UnknownRevision,
        exceptions.Locked,
        exceptions.RevisionConflict,
        exceptions.UnsupportedMediaType,
        *UNAVAILABLE,
    )
    def post(self):
        """Record the files of applied revisions, as they are now, as accepted (like Flyway's
        repair); recorded in the operation log as an 'accept'. Needs the stamp scope."""
        args = parsing.body(_request)
        ctx = CallContext(actor=g.get("actor", "anonymous"), client_address=request.remote_addr)
        result = service().accept(args["revisions"], ctx)
        g.operation_id = result["operation_id"]
        return _accepted.dump(result)
