"""What every POST that changes the database shares: preconditions, Idempotency-Key, actor."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from flask import Response, g, request
from marshmallow import Schema

from api import exceptions
from api.problems import PROBLEM_MEDIA_TYPE, problem_body
from api.resources import asynchronous, parsing
from api.resources.preconditions import if_match
from api.service import service
from api.service.results import CallContext, RunResult

MAX_KEY_LENGTH = 255
ANSWER_GRACE_SECONDS = 10


def perform(kind: str, request_schema: Schema, result_schema: Schema):
    """Parse the request, run ``kind`` once per Idempotency-Key, and answer."""
    args = parsing.body(request_schema)
    lock_timeout = args.pop("lock_timeout")
    expected = _expected(args.pop("expected_current", None))
    key = _idempotency_key()
    fingerprint = hashlib.sha256(
        json.dumps({"kind": kind, "expected": expected, **args}, sort_keys=True).encode()
    ).hexdigest()
    svc = service()
    if key:
        prior = svc.operation_by_key(key)
        if prior is not None:
            return _replay(prior, fingerprint, result_schema)
    ctx = CallContext(
        actor=g.get("actor", "anonymous"),
        client_address=request.remote_addr,
        lock_timeout=lock_timeout,
        expected_current=expected,
        idempotency_key=key,
        request_hash=fingerprint,
    )
    try:
        if asynchronous.wanted():
            body, status, headers = asynchronous.start(
                lambda c: getattr(svc, kind)(**args, ctx=c),
                lambda hook: replace(ctx, on_recorded=hook),
            )
            if key:
                svc.save_response(body["id"], status, json.dumps(body) + "\n")
            return body, status, headers
        result = getattr(svc, kind)(**args, ctx=ctx)
    except exceptions.AlreadyDone as done:
        return _replay(done.operation, fingerprint, result_schema)
    except exceptions.Problem as problem:
        op_id = problem.extra.get("operation_id")
        if key and op_id:
            body = problem_body(
                problem.status, problem.slug, problem.title, problem.detail, **problem.extra
            )
            svc.save_response(op_id, problem.status, json.dumps(body) + "\n")
        raise
    g.operation_id = result.operation_id  # for the request's log line
    body = result_schema.dump(result)
    if key:
        svc.save_response(result.operation_id, 200, json.dumps(body) + "\n")
    return body


def _expected(from_body: list[str] | None) -> tuple[str, ...] | None:
    from_header = if_match()
    from_body = tuple(from_body) if from_body is not None else None
    if from_header is not None and from_body is not None and set(from_header) != set(from_body):
        # The database cannot be at both: whichever it is at, one precondition fails.
        raise exceptions.PreconditionFailed(
            "If-Match and expected_current name different revisions; nothing was done.",
            expected=sorted(set(from_header) | set(from_body)),
        )
    return from_header if from_header is not None else from_body


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in key):
        raise exceptions.InvalidRequest(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."
        )
    return key


def _replay(prior, fingerprint: str, result_schema: Schema) -> Response:
    """The first answer given for this key; nothing runs again."""
    if prior.request_hash != fingerprint:
        raise exceptions.IdempotencyKeyReused(
            "This Idempotency-Key was used for a different request; use a new key.",
            operation_id=prior.id,
        )
    if prior.response_status is None:
        return _answer_from_record(prior, result_schema)
    mimetype = "application/json" if prior.response_status < 400 else PROBLEM_MEDIA_TYPE
    response = Response(prior.response_body, status=prior.response_status, mimetype=mimetype)
    response.headers["Idempotent-Replayed"] = "true"
    if prior.response_status == 202:
        response.headers["Location"] = f"/operations/{prior.id}"
    return response


def _answer_from_record(prior, result_schema: Schema):
    """An operation whose answer was never kept (its process stopped first): the answer its
    record gives, so that a retry loop ends."""
    # A dry run's SQL is in its answer alone: for a moment after it ends, that is being kept.
    just_ended = prior.finished_at is not None and (
        datetime.now(UTC) - prior.finished_at < timedelta(seconds=ANSWER_GRACE_SECONDS)
    )
    if prior.status == "running" or (prior.sql and just_ended):
        raise exceptions.OperationInProgress(
            f"Operation {prior.id} with this key has no answer yet ({prior.status}); "
            f"see GET /operations/{prior.id}.",
            operation_id=prior.id,
        )
    current = list(prior.to) if prior.to is not None else None
    if prior.status == "interrupted":
        raise exceptions.OperationInterrupted(
            f"Operation {prior.id} with this key stopped before it answered: the process "
            f"running it ended. See GET /operations/{prior.id}"
            + (
                "; part of a revision may have run, so recovery is required."
                if prior.partial_possible
                else "; read GET /current, then retry with a new key."
            ),
            operation_id=prior.id,
            partial_possible=prior.partial_possible,
        )
    if prior.sql:
        raise exceptions.OperationInterrupted(
            f"Dry run {prior.id} with this key ended ({prior.status}), but its answer was not "
            "kept: the process stopped before it answered. A dry run changes nothing: send it "
            "again with a new key.",
            operation_id=prior.id,
            partial_possible=False,
        )
    if prior.status == "failed":
        raise exceptions.MigrationFailed(
            f"Operation {prior.id} with this key failed: {prior.error}",
            operation_id=prior.id,
            failed_revision=prior.failed_revision,
            error=prior.error,
            partial_possible=prior.partial_possible,
            current=current,
        )
    return result_schema.dump(
        RunResult(from_=prior.from_, to=prior.to or (), steps=prior.steps, operation_id=prior.id)
    )
