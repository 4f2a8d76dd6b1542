"""Idempotency-Key: a key runs once; a retry gets the first answer, kept with its operation.

The answer is kept as data (the result, or the problem), not as HTTP, so the resource dumps a
replayed result as it dumps a fresh one. It is kept under the migration lock, so a retry that
waited for the lock always finds it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from api import exceptions
from api.service.oplog import (
    FAILED,
    INTERRUPTED,
    QUEUED,
    REFUSED,
    RUNNING,
    Operation,
    OperationLog,
)
from api.service.oplog.record import now
from api.service.results import RunResult, StepResult

# An operation's answer is kept moments after its end; a retry sooner than this after the end
# is told the operation is in progress rather than that its answer was lost.
ANSWER_KEPT_WITHIN = timedelta(seconds=5)


@dataclass(frozen=True)
class Accepted:
    """A 202: the operation was recorded and runs on (Prefer: respond-async)."""

    operation_id: str
    replayed: bool = False


@dataclass(frozen=True)
class KeptAnswer:
    """An answer an earlier version of the service kept as HTTP: given again as it was."""

    status: int
    body: str


Outcome = RunResult | Accepted | KeptAnswer


def fingerprint(kind: str, request: dict) -> str:
    """A digest of what a request asks, to tell a retry from another request with its key."""
    text = json.dumps({"kind": kind, **request}, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()


def replay(op: Operation, request_hash: str | None) -> Outcome:
    """The answer first given for ``op``'s key; nothing runs again.

    :raises IdempotencyKeyReused, OperationInProgress, OperationInterrupted, or the problem
        first given:
    """
    if op.request_hash != request_hash:
        raise exceptions.IdempotencyKeyReused(
            "This Idempotency-Key was used for a different request; use a new key.",
            operation_id=op.id,
        )
    if op.response_status is None:
        # Told from the record, not replayed: the answer given first was not kept (its
        # process stopped, or it was a 503), so this one may differ from it.
        return _from_record(op)
    kept = json.loads(op.response_body or "null")
    if isinstance(kept, dict) and "result" in kept:
        result = kept["result"]
        for name in ("steps", "rendered"):  # "rendered": kept since dry runs name theirs
            result[name] = [StepResult(**s) for s in result.get(name, [])]
        return RunResult(**{**result, "replayed": True})
    if isinstance(kept, dict) and "accepted" in kept:
        return Accepted(op.id, replayed=True)
    if isinstance(kept, dict) and "problem" in kept:
        raise _problem(op.response_status, kept["problem"])
    return KeptAnswer(op.response_status, op.response_body or "")


def keep(oplog: OperationLog, op_id: str, outcome: RunResult | Accepted) -> None:
    """Keep the answer given for ``op_id``'s key."""
    if isinstance(outcome, Accepted):
        oplog.save_response(op_id, 202, json.dumps({"accepted": True}))
        return
    result = dataclasses.asdict(outcome)
    del result["replayed"]
    oplog.save_response(op_id, 200, json.dumps({"result": result}))


def keep_problem(oplog: OperationLog, op_id: str, problem: exceptions.Problem) -> None:
    """Keep the problem given for operation ``op_id``; never a 503: it tells the client to
    retry, and replayed it would tell every retry the same, forever. A retry is answered from
    the operation's record instead, once the database can be read."""
    if problem.status == 503:
        return
    kept = {"slug": problem.slug, "detail": problem.detail, "extra": problem.extra}
    oplog.save_response(op_id, problem.status, json.dumps({"problem": kept}))


def _problem(status: int, kept: dict) -> exceptions.Problem:
    cls = _PROBLEMS.get(kept["slug"], exceptions.Problem)
    problem = cls.__new__(cls)
    # The base initializer: the kept fields are all there is (no challenge to rebuild).
    exceptions.Problem.__init__(problem, kept["detail"], **kept["extra"])
    problem.status = status
    problem.headers["Idempotent-Replayed"] = "true"
    return problem


_PROBLEMS = {cls.slug: cls for cls in exceptions.Problem.__subclasses__()}


def _from_record(op: Operation) -> RunResult | Accepted:
    """An operation whose answer was never kept (its process stopped first, or the database
    could not take it): the answer its record gives, so that a retry loop ends.

    :raises OperationInProgress, OperationInterrupted, MigrationFailed:
    """
    if op.status in (QUEUED, REFUSED):  # queued for a worker: its answer is always a 202
        return Accepted(op.id)
    if op.status == RUNNING:
        raise exceptions.OperationInProgress(
            f"Operation {op.id} with this key has no answer yet ({op.status}); "
            f"see GET /operations/{op.id}.",
            operation_id=op.id,
        )
    if op.sql and op.status != INTERRUPTED and _just_ended(op):
        # A dry run takes no lock, so a retry can come between its end and its answer being
        # kept, moments later: that answer is on its way, not lost.
        raise exceptions.OperationInProgress(
            f"Operation {op.id} with this key has just ended and its answer is being kept; "
            "retry in a moment.",
            operation_id=op.id,
        )
    if op.status == INTERRUPTED or op.sql:
        what = "stopped before it answered: the process running it ended"
        if op.status != INTERRUPTED:  # a dry run's SQL was in its answer alone
            what = f"ended ({op.status}), but its answer was not kept"
        raise exceptions.OperationInterrupted(
            f"Operation {op.id} with this key {what}. See GET /operations/{op.id}"
            + (
                "; part of a revision may have run, so recovery is required."
                if op.partial_possible
                else "; read GET /current, then retry with a new key."
            ),
            operation_id=op.id,
            partial_possible=op.partial_possible,
        )
    if op.status == FAILED:
        raise exceptions.MigrationFailed(
            f"Operation {op.id} with this key failed: {op.error}",
            operation_id=op.id,
            failed_revision=op.failed_revision,
            error=op.error,
            partial_possible=op.partial_possible,
            current=list(op.to) if op.to is not None else None,
        )
    return RunResult(
        from_=op.from_,
        to=op.to or (),
        steps=op.steps,
        operation_id=op.id,
        duration_ms=op.progress.elapsed_ms,  # from its start to its end, as recorded
        retries=op.retries or [],
    )


def _just_ended(op: Operation) -> bool:
    return op.finished_at is not None and now() - op.finished_at < ANSWER_KEPT_WITHIN
