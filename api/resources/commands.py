"""POST /upgrade, /downgrade and /stamp: the calls that change the database."""

from __future__ import annotations

from functools import partial

from flask import Response, g, request
from flask_restx import Namespace, Resource
from marshmallow import Schema
from werkzeug.exceptions import RequestEntityTooLarge

from api import exceptions
from api.openapi import model, query_params
from api.problems import PROBLEM_MEDIA_TYPE
from api.resources import asynchronous, parsing
from api.resources.preconditions import expected_current
from api.resources.problems_doc import UNAVAILABLE, documents_problems
from api.schemas.commands import (
    DowngradeRequest,
    DowngradeResult,
    StampRequest,
    StampResult,
    UpgradeRequest,
    UpgradeResult,
    WriteHeaders,
)
from api.schemas.operations import OperationSchema
from api.schemas.plan import FindingSchema
from api.service import service
from api.service.context import CallContext
from api.service.idempotency import Accepted, KeptAnswer, Outcome

ns = Namespace("migrations", path="/", description="Upgrade, downgrade and stamp the database")
running_model = model(ns, OperationSchema)

# Every problem a write can answer with; the first of each status is its example in the spec.
WRITE_PROBLEMS = (
    exceptions.InvalidRequest,
    exceptions.AmbiguousRevision,
    exceptions.UnknownRevision,
    exceptions.Locked,
    exceptions.MultipleHeads,
    exceptions.RevisionConflict,
    exceptions.LockLost,
    exceptions.RecoveryRequired,
    exceptions.OperationInProgress,
    exceptions.OperationInterrupted,
    exceptions.PreconditionFailed,
    RequestEntityTooLarge,
    exceptions.UnsupportedMediaType,
    exceptions.MigrationFailed,
    exceptions.DryRunFailed,
    exceptions.IdempotencyKeyReused,
    exceptions.UnacknowledgedDataLoss,
    exceptions.IntegrityCheckFailed,
    *UNAVAILABLE,
    exceptions.QueueUnavailable,
)
WRITE_HEADERS = query_params(WriteHeaders, location="header")
_headers = WriteHeaders()
_findings = FindingSchema(many=True)


def perform(kind: str, request_schema: Schema, result_schema: Schema):
    """Parse the request, call the service's ``kind``, dump its answer."""
    args = parsing.body(request_schema)
    headers = parsing.headers(_headers)
    ctx = CallContext(
        actor=g.get("actor", "anonymous"),
        client_address=request.remote_addr,
        lock_timeout=args.pop("lock_timeout"),
        ddl_lock_timeout=args.pop("ddl_lock_timeout", None),
        ddl_lock_retries=args.pop("ddl_lock_retries", None),
        expected_current=expected_current(args.pop("expected_current", None)),
        idempotency_key=headers.get("idempotency_key"),
    )
    call = partial(getattr(service(), kind), **args)
    try:
        if asynchronous.wanted(headers.get("prefer")):
            return _dumped(asynchronous.start(call, ctx), result_schema)
        return _dumped(call(ctx=ctx), result_schema)
    except exceptions.UnacknowledgedDataLoss as refused:
        json_findings(refused)
        raise


def json_findings(refused: exceptions.Problem) -> exceptions.Problem:
    """``refused`` with the findings it names (unacknowledged-data-loss) as the API shows them."""
    if "findings" in refused.extra:
        refused.extra["findings"] = _findings.dump(refused.extra["findings"])
    return refused


def _dumped(outcome: Outcome, result_schema: Schema):
    replayed = {"Idempotent-Replayed": "true"}
    if isinstance(outcome, KeptAnswer):  # kept as HTTP by an earlier version
        failed = outcome.status >= 400
        mimetype = PROBLEM_MEDIA_TYPE if failed else "application/json"
        return Response(outcome.body, outcome.status, replayed, mimetype=mimetype)
    if isinstance(outcome, Accepted):
        body, headers = asynchronous.accepted(outcome.operation_id)
        return body, 202, {**headers, **(replayed if outcome.replayed else {})}
    g.operation_id = outcome.operation_id  # for the request's log line
    return result_schema.dump(outcome), 200, replayed if outcome.replayed else {}


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
