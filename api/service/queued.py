"""Operations run by a queue's workers (Prefer: respond-async on Celery): recorded as queued
by the API, taken and run by a worker, so they outlive the API process that accepted them."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from api import exceptions
from api.service import idempotency
from api.service.alembic_errors import revision_errors
from api.service.context import CallContext
from api.service.oplog import QUEUED

if TYPE_CHECKING:
    from api.service import MigrationService
    from api.service.commands import Write

log = logging.getLogger(__name__)

_RELATIVE = re.compile(r"[+-]\d+$")  # "-1", "base+2", "label@+1"
# What of a CallContext travels with a queued operation (the rest is this process's).
_SENT = ("actor", "client_address", "lock_timeout", "ddl_lock_timeout", "ddl_lock_retries")
_SENT += ("expected_current", "idempotency_key", "request_hash")


def enqueue(svc: MigrationService, write: Write, ctx: CallContext) -> idempotency.Outcome:
    """Record ``write`` as queued and hand it to ``ctx.queue``: a 202 for the caller.

    :raises QueueUnavailable: the queue did not take it (the record is taken back: nothing
        of it ran, and a retry with its Idempotency-Key may queue it again).
    :raises UnknownRevision, AmbiguousRevision, MultipleHeads: the target names no revision
        (told now, not by a worker later; one relative to where the database is cannot be).
    """
    if not _RELATIVE.search(write.target):
        revisions = svc.graph().script.revision_map
        with revision_errors(revisions):
            revisions.get_revisions(write.target)
    try:
        op = svc.oplog.queue(
            kind=write.kind,
            actor=ctx.actor,
            target=write.target,
            sql=write.sql,
            client_address=ctx.client_address,
            idempotency_key=ctx.idempotency_key,
            request_hash=ctx.request_hash,
        )
    except exceptions.AlreadyDone as done:  # the same key, queued a moment before
        return idempotency.replay(done.operation, ctx.request_hash)
    try:
        ctx.queue(op.id, write, ctx)
    except Exception as exc:
        try:
            svc.oplog.unqueue(op.id)
        except exceptions.DatabaseUnavailable:  # it stays queued, and nothing of it ran
            log.warning("operation %s: neither queued nor taken back", op.id)
        raise exceptions.QueueUnavailable(
            f"The queue did not take the operation ({type(exc).__name__}: {exc}); nothing "
            "ran. Retry later, or without Prefer: respond-async."
        ) from exc
    if ctx.idempotency_key:  # a retry while it waits, or once it ran, is told the same 202
        idempotency.keep(svc.oplog, op.id, idempotency.Accepted(op.id))
    return idempotency.Accepted(op.id)


def sent(write: Write, ctx: CallContext) -> tuple[dict, dict]:
    """``write`` and ``ctx`` as JSON, for the queue's message."""
    return dataclasses.asdict(write), {name: getattr(ctx, name) for name in _SENT}


def run(
    svc: MigrationService,
    op_id: str,
    write: dict,
    ctx: dict,
    document: Callable[[exceptions.Problem], dict],
) -> None:
    """Run queued operation ``op_id`` as sent (see :func:`sent`), once: a delivery of one a
    worker took already does nothing (its record says how it went, or that it was
    interrupted). One refused before it ran anything ends ``refused`` with its problem, as
    ``document`` writes it (the body the API would have answered with).

    :raises DatabaseUnavailable: the database cannot be reached; nothing ran (the queue should
        deliver it again later).
    """
    from api.service import commands  # not at import: commands imports this module

    op = svc.oplog.get(op_id)
    if op is None or op.status != QUEUED:
        return
    asked = commands.Write(**{**write, "accept_changed": tuple(write["accept_changed"])})
    expected = ctx["expected_current"]
    context = CallContext(
        **{**ctx, "expected_current": tuple(expected) if expected is not None else None},
        queued=op_id,
    )
    try:
        commands.run(svc, asked, context)
    except exceptions.DatabaseUnavailable:
        if svc.oplog.get(op_id).status == QUEUED:
            raise
    except exceptions.Problem as problem:
        if svc.oplog.refuse(op_id, document(problem)):
            log.info("operation %s refused: %s", op_id, problem.detail)
    except Exception:  # a fault of the service: never a record left queued for ever
        log.exception("operation %s stopped", op_id)
        svc.oplog.refuse(op_id, document(exceptions.Problem("The service failed; see its log.")))
