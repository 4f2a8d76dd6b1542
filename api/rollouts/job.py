"""One target of a rollout, run in a worker process: the same operation as POST
/targets/<name>/upgrade (or /downgrade), with its outcome written to the rollout store."""

from __future__ import annotations

import logging
import time

from flask import current_app

from api import exceptions
from api.rollouts.store import rollout_store
from api.service.context import CallContext
from api.service.oplog.record import now
from api.service.oplog.rollout_records import FAILED, INTERRUPTED, SUCCEEDED

log = logging.getLogger(__name__)

# A target's lock held by another operation is waited for this long (seconds): a rollout is
# not a pipeline waiting on one answer, and a short wait would fail a whole wave.
LOCK_TIMEOUT = 60.0
# An operation of an earlier delivery of this task that another process runs still: its end
# is looked for this often (seconds).
POLL = 0.5
# A run the process running it left without touching the schema is run again, this often.
RERUNS = 3


def run_target(rollout_id: str, name: str) -> None:
    """Run target ``name`` of the rollout as its row asks, under the Idempotency-Key
    ``rollout:<id>:<name>:<attempt>``, and write how it ended.

    Safe to call more than once for one row (a queue delivers at least once): a finished
    target is left alone, a run another process has under way is waited for and its answer
    taken, and one a dead process left (interrupted, nothing half-done) runs again.
    """
    store = rollout_store(current_app)
    rollout = store.get(rollout_id)
    rows = store.targets(rollout_id, [name]) if rollout is not None else []
    if not rows or rows[0].status == SUCCEEDED:
        return
    fleet = current_app.extensions["migrateway_targets"]
    try:
        _run(store, rollout, name, rows[0].attempt, fleet)
    finally:
        fleet.release(name)


def _run(store, rollout, name: str, attempt: int, fleet) -> None:
    rollout_id = rollout.id
    try:
        svc = fleet.service(name)
    except exceptions.Problem as problem:  # a discovered schema gone, its database down
        return _ended(store, rollout_id, name, FAILED, problem)
    call = svc.upgrade if rollout.action == "upgrade" else svc.downgrade
    for _ in range(RERUNS):
        key = f"rollout:{rollout_id}:{name}:{attempt}"
        ctx = CallContext(actor=rollout.actor, lock_timeout=LOCK_TIMEOUT, idempotency_key=key)
        try:
            outcome = _answer(call, rollout.target, ctx)
        except exceptions.OperationInterrupted as stopped:
            if stopped.extra.get("partial_possible"):
                return _ended(store, rollout_id, name, INTERRUPTED, stopped)
            attempt += 1  # nothing of it ran: run it again, under a key of its own
            store.update_target(rollout_id, name, attempt=attempt)
            continue
        except exceptions.Problem as problem:
            return _ended(store, rollout_id, name, FAILED, problem)
        except Exception as exc:  # written to the row: a rollout never waits on a lost error
            log.exception("rollout %s: target %s stopped", rollout_id, name)
            return _ended(store, rollout_id, name, FAILED, None, f"{type(exc).__name__}: {exc}")
        store.update_target(
            rollout_id,
            name,
            status=SUCCEEDED,
            operation_id=outcome.operation_id,
            error=None,
            finished_at=now(),
        )
        return
    _ended(store, rollout_id, name, INTERRUPTED, None, "interrupted each time it ran")


def _answer(call, target: str, ctx: CallContext):
    """The call's outcome; while an earlier delivery's run of this key is still under way
    in another process, its end is waited for (then the key replays its answer)."""
    while True:
        try:
            return call(target=target, ctx=ctx)
        except exceptions.OperationInProgress:
            time.sleep(POLL)


def _ended(store, rollout_id, name, status, problem, error: str | None = None) -> None:
    store.update_target(
        rollout_id,
        name,
        status=status,
        operation_id=problem.extra.get("operation_id") if problem is not None else None,
        error=error or f"{problem.slug}: {problem.detail}",
        finished_at=now(),
    )
