"""How a write that stopped is told: read back from the database, recorded, logged, raised."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from api import exceptions
from api.service import bind_runs
from api.service import oplog as log
from api.service.binds import DEFAULT
from api.service.database import describe_error
from api.service.ddl_locks import is_lock_timeout
from api.service.graph import RevisionGraph
from api.service.lock import HeldLock, LockLost
from api.service.project_files import raised_at
from api.service.runner import StepsFailed, StepTimer

if TYPE_CHECKING:
    from api.service import MigrationService
    from api.service.applied_record import AppliedRecorder

logger = logging.getLogger(__name__)


def lock_guard(svc: MigrationService, op_id: str, held: HeldLock, timer: StepTimer):
    """Before each revision and commit: prove the lock is still held. When it is lost, the
    operation is recorded as failed at once, while this connection still holds the run lock:
    whoever takes the lock next must not mistake it for one that died inside a revision."""

    def guard() -> None:
        try:
            held.verify()
        except LockLost as lost:
            with contextlib.suppress(Exception):  # failure() records it again, or the reaper
                svc.oplog.finish(
                    op_id, status=log.FAILED, to=None, steps=timer.done, error=f"{lost}."
                )
            raise

    return guard


def failure(
    svc: MigrationService,
    graph: RevisionGraph,
    op_id: str,
    kind: str,
    target: str,
    heads: dict[str, tuple[str, ...]],
    failed: StepsFailed,
    roots: list[str],
    recorder: AppliedRecorder | None = None,
) -> exceptions.Problem:
    """Describe a failed run from what the database says now, never from assumptions; with
    several databases, which bind failed and where each one is now (``heads``: before).
    ``roots``: the run's project directories, to name the file the error came from."""
    before = heads[DEFAULT]
    try:
        now: list[str] | None = list(svc.database_heads())
    except exceptions.DatabaseUnavailable:
        now = None
    running = failed.timer.running
    bind = failed.timer.bind  # None: a single database, or env.py failed before configure()
    # Where DDL is transactional, a revision that committed inside (an autocommit_block())
    # left that part behind all the same. Where it is not, one that timed out waiting for a
    # lock before any of its statements changed anything left nothing (and was retried on
    # that ground: api/service/ddl_timeouts.py watches its statements).
    committed_inside = running is not None and running.revision in failed.timer.committed_within
    transactional = svc.binds.transactional_ddl(bind)
    untouched = transactional or (is_lock_timeout(failed.error) and not committed_inside)
    partial = running is not None and (committed_inside or not untouched) and kind != "stamp"
    multi = svc.binds.multi
    binds = bind_runs.after_failure(svc, graph, kind, heads, failed.timer) if multi else None
    lost = isinstance(failed.error, LockLost)
    error = f"{failed.error}." if lost else describe_error(failed.error)
    # A step counts once its transaction committed: what the database holds now decides.
    held = tuple(now) if now is not None else None
    completed = bind_runs.committed(graph, kind, failed.timer.by_bind.get(DEFAULT, []), held)
    # The file and line the error came from, in env.py, a revision or the project's package.
    at = None if lost else raised_at(failed.error, roots)
    line = f" ({at[0]}, line {at[1]})" if at else ""
    if running:
        where = f"revision {running.revision}"
        if bind is not None:
            where += f" of bind '{bind}'"
        where += line
    elif lost:
        where = "between revisions"
    else:
        where = f"env.py, before any revision ran{line}"
    # What the databases hold now decides which revisions the record keeps (where they
    # cannot say, the steps this record keeps as completed).
    if binds is not None:
        after = {n: b["current"] for n, b in binds.items()}
        done = {n: [s["revision"] for s in b["completed"]] for n, b in binds.items()}
    else:
        after, done = {DEFAULT: now}, {DEFAULT: [s.revision for s in completed]}
    known = {n: tuple(revs) for n, revs in after.items() if revs is not None}
    svc.oplog.finish(
        op_id,
        status=log.FAILED,
        to=now,
        steps=completed,
        error=error,
        failed_revision=running.revision if running else None,
        partial_possible=partial,
        binds=bind_runs.as_logged(binds) if binds is not None else None,
        revisions=recorder.changes(op_id, heads, known, done) if recorder is not None else None,
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
            **({"bind": bind} if binds is not None else {}),
        },
    )
    detail = f"{kind} to {target} failed in {where}: {_sentence(error)}"
    if partial:
        detail += (
            " This database has no transactional DDL: part of the revision may have run. "
            if not transactional
            else " The revision committed part of its work before it failed (an autocommit block). "
        ) + "Inspect the schema, then POST /stamp with the revision it matches."
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
        **({"raised_at": {"file": at[0], "line": at[1]}} if at else {}),
        **({"bind": bind, "binds": binds} if binds is not None else {}),
    )


def _sentence(text: str) -> str:
    """``text`` ending as a sentence, so that another can follow it."""
    return text if text.endswith((".", "!", "?")) else text + "."
