"""POST /upgrade, /downgrade and /stamp: the calls that change the database."""

from __future__ import annotations

from flask_restx import Namespace, Resource

from api.openapi import model
from api.resources.problems_doc import documents_problems
from api.resources.writes import MAX_KEY_LENGTH, perform
from api.schemas.commands import (
    DowngradeRequest,
    DowngradeResult,
    StampRequest,
    StampResult,
    UpgradeRequest,
    UpgradeResult,
)
from api.schemas.operations import OperationSchema

ns = Namespace("migrations", path="/", description="Upgrade, downgrade and stamp the database")
running_model = model(ns, OperationSchema)

WRITE_PROBLEMS = (400, 404, 409, 412, 413, 415, 422, 503)
WRITE_HEADERS = {
    "Idempotency-Key": {
        "in": "header",
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": r"^[\x20-\x7e]+$",
        "description": "A retry with the same key and body returns the first answer.",
    },
    "If-Match": {
        "in": "header",
        "type": "string",
        "pattern": r'^(|\*|"[^",]+")$',
        "description": "The ETag of GET /current; 412 if the database has moved.",
    },
    "Prefer": {
        "in": "header",
        "type": "string",
        "description": "respond-async: answer 202 with Location: /operations/<id> at once "
        "(other preferences are ignored, as RFC 7240 asks).",
    },
}


@ns.route("/upgrade")
class Upgrade(Resource):
    @ns.doc(params=WRITE_HEADERS)
    @ns.expect(model(ns, UpgradeRequest))
    @ns.response(200, "Upgraded (or already there: nothing applied)", model(ns, UpgradeResult))
    @ns.response(202, "Accepted (Prefer: respond-async): poll Location", running_model)
    @documents_problems(ns, *WRITE_PROBLEMS)
    def post(self):
        """Upgrade the database to a target revision (default: head)."""
        return perform("upgrade", UpgradeRequest(), UpgradeResult())


@ns.route("/downgrade")
class Downgrade(Resource):
    @ns.doc(params=WRITE_HEADERS)
    @ns.expect(model(ns, DowngradeRequest))
    @ns.response(200, "Downgraded", model(ns, DowngradeResult))
    @ns.response(202, "Accepted (Prefer: respond-async): poll Location", running_model)
    @documents_problems(ns, *WRITE_PROBLEMS)
    def post(self):
        """Downgrade the database to an explicit target revision (-1, a revision, base)."""
        return perform("downgrade", DowngradeRequest(), DowngradeResult())


@ns.route("/stamp")
class Stamp(Resource):
    @ns.doc(params=WRITE_HEADERS)
    @ns.expect(model(ns, StampRequest))
    @ns.response(200, "Stamped", model(ns, StampResult))
    @ns.response(202, "Accepted (Prefer: respond-async): poll Location", running_model)
    @documents_problems(ns, *WRITE_PROBLEMS)
    def post(self):
        """Set the database's revision without running migrations."""
        return perform("stamp", StampRequest(), StampResult())
