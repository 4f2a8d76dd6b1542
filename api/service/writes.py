"""Upgrade, downgrade and stamp: under the database lock, recorded, failures read back."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

from alembic.ddl.impl import DefaultImpl

from api import exceptions
from api.service import oplog as log
from api.service.database import describe_error
from api.service.graph import revision_errors
from api.service.lock import LockTimeout, migration_lock
from api.service.results import CallContext, RunResult
from api.service.runner import StepsFailed, StepTimer, elapsed_ms, run_env

if TYPE_CHECKING:
    from api.service import MigrationService


# A step relative to the current revision: "-1", "+2" (not "head-1" or "label@-1"). From
# several heads, which branch it walks is a guess (Alembic only warns): a rollback must not guess.
_RELATIVE = re.compile(r"^[+-]\d+$")

# What the log says each step did; a dry run only renders SQL.
_VERBS = {"upgrade": "applied", "downgrade": "reverted", "stamp": "stamped"}


def run(
    svc: MigrationService, kind: str, target: str, *, sql=False, purge=False, ctx: CallContext
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

    with _locked(svc, ctx, dry_run=sql) as lock_wait_ms:
        if ctx.idempotency_key:
            done = svc.oplog.by_key(ctx.idempotency_key)
            if done is not None:
                raise exceptions.AlreadyDone(done)
        # Read under the lock: a late caller whose work is already done gets a no-op.
        before = svc.database_heads()
        _check_preconditions(svc, kind, sql, purge, before, ctx)
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
        )
        if ctx.on_recorded is not None:
            ctx.on_recorded(op.id)
        result = RunResult(from_=before, to=before, operation_id=op.id)
        if not planned and not sql and not purge:
            svc.oplog.finish(op.id, status=log.SUCCEEDED, to=before, steps=[])
            result.duration_ms = elapsed_ms(start)
            return result

        progress = None if sql else _ProgressWriter(svc, op.id)
        try:
            timer = run_env(
                config,
                script,
                plan,
                as_sql=sql,
                starting_rev=before if sql else None,
                purge=purge,
                version_table=svc.version_table,
                timer=StepTimer(
                    operation_id=op.id,
                    verb="rendered" if sql else _VERBS[kind],
                    on_step=progress,
                ),
            )
        except StepsFailed as failed:
            raise _failure(svc, op.id, kind, target, before, failed) from failed.error
        finally:
            if progress is not None:
                progress.close()

        result.to = before if sql else svc.database_heads()
        if kind != "stamp":
            result.steps = timer.done
        if sql:
            result.sql = config.output_buffer.getvalue()
        svc.oplog.finish(op.id, status=log.SUCCEEDED, to=result.to, steps=result.steps)
        result.duration_ms = elapsed_ms(start)
        return result


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
def _locked(svc: MigrationService, ctx: CallContext, dry_run: bool) -> Iterator[float | None]:
    """Hold the migration lock (not for dry runs, which change nothing); yield how many ms
    it took to get. Holding it proves any operation still 'running' belongs to a dead process."""
    if dry_run:
        yield None
        return
    with ExitStack() as stack:
        waited = time.perf_counter()
        try:
            stack.enter_context(migration_lock(svc.engine, ctx.lock_timeout))
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
        svc.oplog.mark_interrupted()
        yield wait_ms


def _check_preconditions(svc, kind, sql, purge, before, ctx: CallContext) -> None:
    if ctx.expected_current is not None and set(ctx.expected_current) != set(before):
        raise exceptions.PreconditionFailed(
            "The database is not at the revision you expected; nothing was done. "
            "Read GET /current again and decide.",
            current=list(before),
            expected=list(ctx.expected_current),
        )
    if kind == "stamp" or sql:
        return
    last = svc.oplog.last_change()
    if last is not None and last.status == log.FAILED and last.partial_possible:
        raise exceptions.RecoveryRequired(
            f"Operation {last.id} failed in revision {last.failed_revision} on a database "
            "without transactional DDL, so part of that revision may have run. Inspect the "
            "schema, complete or undo that revision by hand, then POST /stamp with the revision "
            "the schema now matches; migrations are refused until then.",
            operation_id=last.id,
            failed_revision=last.failed_revision,
            current=list(before),
        )


def _failure(svc, op_id, kind, target, before, failed: StepsFailed) -> exceptions.MigrationFailed:
    """Describe a failed run from what the database says now, never from assumptions."""
    try:
        now: list[str] | None = list(svc.database_heads())
    except exceptions.DatabaseUnavailable:
        now = None
    running = failed.timer.running
    transactional = DefaultImpl.get_by_dialect(svc.engine.dialect).transactional_ddl
    partial = running is not None and not transactional
    error = describe_error(failed.error)
    where = f"revision {running.revision}" if running else "env.py, before any revision ran"
    svc.oplog.finish(
        op_id,
        status=log.FAILED,
        to=now,
        steps=failed.timer.done,
        error=error,
        failed_revision=running.revision if running else None,
        partial_possible=partial,
    )
    detail = f"{kind} to {target} failed in {where}: {error}"
    if partial:
        detail += (
            " This database has no transactional DDL: part of the revision may have run. "
            "Inspect the schema, then POST /stamp with the revision it matches."
        )
    return exceptions.MigrationFailed(
        detail,
        operation_id=op_id,
        failed_revision=running.revision if running else None,
        error=error,
        partial_possible=partial,
        completed=[
            {"revision": s.revision, "message": s.message, "duration_ms": s.duration_ms}
            for s in failed.timer.done
        ],
        **{"from": list(before)},
        current=now,
    )
