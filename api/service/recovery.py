"""What must hold before a write runs: the caller's expected revision, and no pending recovery."""

from __future__ import annotations

from typing import TYPE_CHECKING

from api import exceptions
from api.service import oplog as log
from api.service.context import CallContext

if TYPE_CHECKING:
    from api.service import MigrationService


def check_preconditions(
    svc: MigrationService,
    kind: str,
    sql: bool,
    before: tuple[str, ...],
    resolves: str | None,
    ctx: CallContext,
) -> None:
    """Refuse a write the caller did not mean, or one that would build on a revision that may
    have half run.

    :raises PreconditionFailed, RecoveryRequired:
    """
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
