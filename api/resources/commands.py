"""POST /upgrade, /downgrade and /stamp: the calls that change the database."""

from __future__ import annotations

from flask_restx import Namespace, Resource

from api.openapi import model
from api.resources import parsing
from api.resources.problems_doc import documents_problems
from api.schemas.commands import (
    DowngradeRequest,
    DowngradeResult,
    StampRequest,
    StampResult,
    UpgradeRequest,
    UpgradeResult,
)
from api.service import service

ns = Namespace("migrations", path="/", description="Upgrade, downgrade and stamp the database")

WRITE_PROBLEMS = (400, 404, 409, 413, 415, 422, 503)


@ns.route("/upgrade")
class Upgrade(Resource):
    @ns.expect(model(ns, UpgradeRequest))
    @ns.response(200, "Upgraded (or already there: nothing applied)", model(ns, UpgradeResult))
    @documents_problems(ns, *WRITE_PROBLEMS)
    def post(self):
        """Upgrade the database to a target revision (default: head)."""
        args = parsing.body(UpgradeRequest())
        return UpgradeResult().dump(service().upgrade(**args))


@ns.route("/downgrade")
class Downgrade(Resource):
    @ns.expect(model(ns, DowngradeRequest))
    @ns.response(200, "Downgraded", model(ns, DowngradeResult))
    @documents_problems(ns, *WRITE_PROBLEMS)
    def post(self):
        """Downgrade the database to an explicit target revision (-1, a revision, base)."""
        args = parsing.body(DowngradeRequest())
        return DowngradeResult().dump(service().downgrade(**args))


@ns.route("/stamp")
class Stamp(Resource):
    @ns.expect(model(ns, StampRequest))
    @ns.response(200, "Stamped", model(ns, StampResult))
    @documents_problems(ns, *WRITE_PROBLEMS)
    def post(self):
        """Set the database's revision without running migrations."""
        args = parsing.body(StampRequest())
        return StampResult().dump(service().stamp(**args))
