"""POST /plan: what an upgrade or downgrade would run, step by step, and what it destroys."""

from __future__ import annotations

from flask_restx import Namespace, Resource

from api import exceptions
from api.openapi import model
from api.resources import parsing
from api.resources.problems_doc import UNAVAILABLE, documents_problems
from api.schemas.plan import PlanRequest, PlanSchema
from api.service import service

ns = Namespace("plan", path="/", description="Know what a change will do before it runs")

_request, _plan = PlanRequest(), PlanSchema()


@ns.route("/plan")
class PlanOfChange(Resource):
    @ns.expect(model(ns, PlanRequest))
    @ns.response(200, "The plan (nothing ran)", model(ns, PlanSchema))
    @documents_problems(
        ns,
        exceptions.InvalidRequest,
        exceptions.AmbiguousRevision,
        exceptions.UnknownRevision,
        exceptions.MultipleHeads,
        exceptions.RevisionConflict,
        exceptions.UnsupportedMediaType,
        exceptions.DryRunFailed,
        *UNAVAILABLE,
    )
    def post(self):
        """The plan of an upgrade or downgrade from the database's revision: each step's SQL
        and findings (what it destroys, locks or may fail on), checked against the live data.
        Nothing runs. Needs the read scope."""
        args = parsing.body(_request)
        return _plan.dump(service().plan(**args))
