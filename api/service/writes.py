"""Upgrade, downgrade and stamp: under the database lock, recorded, failures read back."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

from api import exceptions
from api.service import oplog as log
from api.service.alembic_errors import revision_errors
from api.service.database import describe_error
from api.service.lock import HeldLock, LockLost, LockTimeout, migration_lock
from api.service.results import CallContext, RunResult
from api.service.runner import StepsFailed, StepTimer, elapsed_ms, run_env

if TYPE_CHECKING:
    from api.service import MigrationService

logger = logging.getLogger(__name__)


# A step relative to the current revision: "-1", "+2" (not "head-1" or "label@-1"). From
# several heads, which branch it walks is a guess (Alembic only warns): a rollback must not guess.
_RELATIVE = re.compile(r"^[+-]\d+$")

# What the log says each step did; a dry run only renders SQL.
_VERBS = {"upgrade": "applied", "downgrade": "reverted", "stamp": "stamped"}


def run(
    svc: MigrationService,
    kind: str,
    target: str,
    *,
    sql=False,
    purge=False,
    resolves: str | None = None,
    ctx: CallContext,
) -> RunResult:
    """Run one mutating command from start to recorded end.

    :raises Locked, PreconditionFailed, RecoveryRequired, UnknownRevision, MultipleHeads,
        RevisionConflict, MigrationFailed, DatabaseUnavailable:
    """
    start = time.perf_counter()
    config = svc.config()
    graph = svc.graph(config)
    script = graph.script

    def plan(heads: tuple[str, ...]):
        if kind == "upgrade":
            return script._upgrade_revs(target, heads)
        if kind == "downgrade":
            return script._downgrade_revs(target, heads)
        return script._stamp_revs((target,), () if purge else heads)

    with _locked(svc, ctx) as (lock_wait_ms, held):
        if ctx.idempotency_key:
            done = svc.oplog.by_key(ctx.idempotency_key)
            if done is not None:
                raise exceptions.AlreadyDone(done)
        # Read under the lock: a late caller whose work is already done gets a no-op.
        before = svc.database_heads()
        _check_preconditions(svc, kind, sql, before, resolves, ctx)
        if kind == "downgrade" and _RELATIVE.match(target) and len(before) > 1:
            raise exceptions.RevisionConflict(
                f"The database has several heads; '{target}' does not say which branch to "
                "walk down. Name the revision to downgrade to.",
                current=list(before),
            )
        if not (kind == "stamp" and purge):
            graph.check_known(before)
        try:
            with revision_errors(script.revision_map):
                planned = list(plan(before))
        except exceptions.RevisionConflict as conflict:
            conflict.extra.setdefault("current", list(before))
            raise

        op = svc.oplog.start(
            kind=kind,
            actor=ctx.actor,
            target=target,
            sql=sql,
            from_=before,
            client_address=ctx.client_address,
            idempotency_key=ctx.idempotency_key,
            request_hash=ctx.request_hash,
            lock_wait_ms=lock_wait_ms,
            steps_total=len(planned),
            resolves=resolves,
        )
        if ctx.on_recorded is not None:
            ctx.on_recorded(op.id)
        result = RunResult(from_=before, to=before, operation_id=op.id)
        if not planned and not sql and not purge:
            svc.oplog.finish(op.id, status=log.SUCCEEDED, to=before, steps=[], resolves=resolves)
            result.duration_ms = elapsed_ms(start)
            return result

        progress = None if sql else _ProgressWriter(svc, op.id)
        timer = StepTimer(
            operation_id=op.id, verb="rendered" if sql else _VERBS[kind], on_step=progress
        )
        if not sql:
            timer.guard = _guard(svc, op.id, held, timer)
        try:
            run_env(
                config,
                script,
                plan,
                as_sql=sql,
                starting_rev=before if sql else None,
                purge=purge,
                version_table=svc.version_table,
                timer=timer,
                bind=None if sql else held.bind,
            )
        except StepsFailed as failed:
            raise _failure(svc, graph, op.id, kind, target, before, failed) from failed.error
        finally:
            if progress is not None:
                progress.close()

        result.to = before if sql else svc.database_heads()
        if kind != "stamp":
            result.steps = timer.done
        if sql:
            result.sql = config.output_buffer.getvalue()
        svc.oplog.finish(
            op.id, status=log.SUCCEEDED, to=result.to, steps=result.steps, resolves=resolves
        )
        result.duration_ms = elapsed_ms(start)
        return result


def _guard(svc: MigrationService, op_id: str, held: HeldLock, timer: StepTimer):
    """Before each revision and commit: prove the lock is still held. When it is lost, the
    operation is recorded as failed at once, while this connection still holds the run lock:
    whoever takes the lock next must not mistake it for one that died inside a revision."""

    def guard() -> None:
        try:
            held.verify()
        except LockLost as lost:
            with contextlib.suppress(Exception):  # _failure records it again, or the reaper
                svc.oplog.finish(
                    op_id, status=log.FAILED, to=None, steps=timer.done, error=f"{lost}."
                )
            raise

    return guard


PROGRESS_INTERVAL = 0.5


class _ProgressWriter:
    """Writes progress to the log at most every PROGRESS_INTERVAL seconds (a write per
    revision would cost more than many revisions do), and always within that interval of a
    change, so a slow revision shows as running while it runs."""

    def __init__(self, svc: MigrationService, op_id: str):
        self._log, self._op_id = svc.oplog, op_id
        self._lock = threading.Lock()
        self._pending: tuple[int, str] | None = None
        self._last = 0.0
        self._timer: threading.Timer | None = None

    def __call__(self, done: int, revision: str) -> None:
        with self._lock:
            self._pending = (done, revision)
            wait = PROGRESS_INTERVAL - (time.monotonic() - self._last)
            if wait <= 0:
                self._flush_locked()
            elif self._timer is None:
                self._timer = threading.Timer(wait, self._flush)
                self._timer.daemon = True
                self._timer.start()

    def _flush(self) -> None:
        with self._lock:
            self._timer = None
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._pending is not None:
            self._last = time.monotonic()
            self._log.progress(self._op_id, *self._pending)
            self._pending = None

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._pending = None


@contextmanager
def _locked(svc: MigrationService, ctx: CallContext) -> Iterator[tuple[float, HeldLock]]:
    """Hold the migration lock; yield how many ms it took to get, and the lock. Holding it
    proves any operation still 'running' belongs to a dead process. Dry runs take it too:
    they render from the database's revision, which must not move meanwhile, and an operation
    that holds no lock could not be told from a dead one."""
    with ExitStack() as stack:
        waited = time.perf_counter()
        try:
            held = stack.enter_context(migration_lock(svc.engine, ctx.lock_timeout))
        except LockTimeout:
            holder = svc.oplog.running()
            raise exceptions.Locked(
                f"Another migration holds the lock; waited {ctx.lock_timeout:g} s. "
                "Retry later, or pass a longer lock_timeout.",
                holder=None
                if holder is None
                else {
                    "id": holder.id,
                    "kind": holder.kind,
                    "actor": holder.actor,
                    "since": holder.started_at.isoformat(),
                },
            ) from None
        except Exception as exc:
            raise exceptions.DatabaseUnavailable(
                f"The migration lock cannot be taken: {describe_error(exc)}"
            ) from exc
        wait_ms = elapsed_ms(waited)
        svc.oplog.mark_interrupted(svc.transactional_ddl)
        yield wait_ms, held


def _check_preconditions(svc, kind, sql, before, resolves, ctx: CallContext) -> None:
    if ctx.expected_current is not None and set(ctx.expected_current) != set(before):
        raise exceptions.PreconditionFailed(
            "The database is not at the revision you expected; nothing was done. "
            "Read GET /current again and decide.",
            current=list(before),
            expected=list(ctx.expected_current),
        )
    if sql:
        return
    pending = svc.oplog.needing_recovery()
    if pending is None:
        if resolves is not None:
            raise exceptions.PreconditionFailed(
                f"Operation {resolves} needs no recovery (it does not exist, did not stop "
                "part-way, or a stamp has resolved it); nothing was done. Stamp without "
                "'resolves'.",
                resolves=resolves,
                current=list(before),
            )
        return
    if kind == "stamp" and resolves == pending.id:
        return
    if pending.status == log.FAILED:
        what = f"failed in revision {pending.failed_revision}"
    else:
        what = (
            f"was interrupted (its process stopped) in or after revision {pending.running_revision}"
        )
    how = (
        "Inspect the schema, complete or undo that revision by hand, then POST /stamp with "
        f'the revision the schema now matches and "resolves": "{pending.id}"; '
        "migrations are refused until then."
    )
    if kind == "stamp":
        how = f'A stamp must name the operation it acknowledges: "resolves": "{pending.id}"' + (
            f" (not {resolves})." if resolves else "."
        )
    raise exceptions.RecoveryRequired(
        f"Operation {pending.id} {what} on a database without transactional DDL, so part of "
        f"that revision may have run. {how}",
        operation_id=pending.id,
        failed_revision=pending.failed_revision or pending.running_revision,
        current=list(before),
    )


def _failure(
    svc, graph, op_id, kind, target, before, failed: StepsFailed
) -> exceptions.MigrationFailed:
    """Describe a failed run from what the database says now, never from assumptions."""
    try:
        now: list[str] | None = list(svc.database_heads())
    except exceptions.DatabaseUnavailable:
        now = None
    running = failed.timer.running
    partial = running is not None and not svc.transactional_ddl and kind != "stamp"
    lost = isinstance(failed.error, LockLost)
    error = f"{failed.error}." if lost else describe_error(failed.error)
    # A step counts once its transaction committed; where DDL is transactional, steps run in
    # one transaction are undone together, so what the database holds now decides.
    completed = failed.timer.done
    if now is not None and kind != "stamp":
        applied = graph.applied(tuple(now))
        completed = [s for s in completed if (s.revision in applied) == (kind == "upgrade")]
    if running:
        where = f"revision {running.revision}"
    elif lost:
        where = "between revisions"
    else:
        where = "env.py, before any revision ran"
    svc.oplog.finish(
        op_id,
        status=log.FAILED,
        to=now,
        steps=completed,
        error=error,
        failed_revision=running.revision if running else None,
        partial_possible=partial,
    )
    logger.error(
        "operation %s (%s to %s) failed in %s: %s",
        op_id,
        kind,
        target,
        where,
        error,
        extra={
            "event": "operation_failed",
            "operation_id": op_id,
            "revision": running.revision if running else None,
            "error": error,
        },
    )
    detail = f"{kind} to {target} failed in {where}: {_sentence(error)}"
    if partial:
        detail += (
            " This database has no transactional DDL: part of the revision may have run. "
            "Inspect the schema, then POST /stamp with the revision it matches."
        )
    elif lost:
        detail += (
            " No other migration ran meanwhile; the chain stopped at a revision boundary. "
            "Read GET /current and retry."
        )
    problem = exceptions.LockLost if lost else exceptions.MigrationFailed
    return problem(
        detail,
        operation_id=op_id,
        failed_revision=running.revision if running else None,
        error=error,
        partial_possible=partial,
        completed=[
            {"revision": s.revision, "message": s.message, "duration_ms": s.duration_ms}
            for s in completed
        ],
        **{"from": list(before)},
        current=now,
    )


def _sentence(text: str) -> str:
    """``text`` ending as a sentence, so that another can follow it."""
    return text if text.endswith((".", "!", "?")) else text + "."
