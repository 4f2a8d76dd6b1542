"""Upgrade, downgrade and stamp: once per key, under the database lock, recorded, read back."""

from __future__ import annotations

import re
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from alembic.config import Config

from api import exceptions
from api.service import bind_runs, drift, dry_run, idempotency, integrity_gate, loss_guard, queued
from api.service import oplog as log
from api.service.alembic_env import ROOTS
from api.service.alembic_errors import revision_errors
from api.service.applied_record import AppliedRecorder
from api.service.binds import DEFAULT
from api.service.context import CallContext
from api.service.ddl_timeouts import ddl_locks
from api.service.failure import failure, lock_guard
from api.service.graph import RevisionGraph
from api.service.lock import HeldLock
from api.service.plans import Plan, make_plan
from api.service.progress import ProgressWriter
from api.service.recovery import check_preconditions
from api.service.results import RunResult
from api.service.runner import StepsFailed, StepTimer, elapsed_ms, run_env
from api.service.tenant_schema import create as create_tenant_schema
from api.service.write_lock import locked

if TYPE_CHECKING:
    from api.service import MigrationService

# "-1", "+2" (not "head-1", "label@-1"): from several heads, a guess (Alembic only warns).
_RELATIVE = re.compile(r"^[+-]\d+$")

# What the log says each step did (a dry run's steps are "rendered", api/service/dry_run.py).
_VERBS = {"upgrade": "applied", "downgrade": "reverted", "stamp": "stamped"}


@dataclass(frozen=True)
class Write:
    """One upgrade, downgrade or stamp, as asked."""

    kind: str
    target: str
    sql: bool = False
    purge: bool = False
    resolves: str | None = None
    # The plan the caller reviewed (POST /plan): acknowledges the data loss it names.
    plan_id: str | None = None
    # Revisions whose files changed since they were applied, to run all the same.
    accept_changed: tuple[str, ...] = ()

    def request(self) -> dict:
        """What was asked, as the request said it (for the Idempotency-Key's fingerprint)."""
        if self.kind != "stamp":
            asked = {"target": self.target, "sql": self.sql}
            if self.accept_changed:
                asked["accept_changed"] = sorted(self.accept_changed)
            return asked if self.plan_id is None else {**asked, "plan_id": self.plan_id}
        asked = {"target": self.target, "purge": self.purge}
        return asked if self.resolves is None else {**asked, "resolves": self.resolves}

    def plan(self, graph: RevisionGraph, heads: tuple[str, ...]):
        """Alembic's steps from ``heads`` (what ``alembic.command`` would run)."""
        script = graph.script
        if self.kind == "upgrade":
            return script._upgrade_revs(self.target, heads)
        if self.kind == "downgrade":
            return script._downgrade_revs(self.target, heads)
        return script._stamp_revs((self.target,), () if self.purge else heads)


def run(svc: MigrationService, write: Write, ctx: CallContext) -> idempotency.Outcome:
    """Run one write from start to recorded end, once per Idempotency-Key.

    :raises Locked, PreconditionFailed, RecoveryRequired, UnknownRevision, MultipleHeads,
        RevisionConflict, MigrationFailed, LockLost, DatabaseUnavailable, and the problem a
        replayed key first got:
    """
    start = time.perf_counter()
    key = ctx.idempotency_key
    if key and ctx.queued is None:  # a queued one's key is its own record
        asked = {"expected": ctx.expected_current, **write.request()}
        ctx = replace(ctx, request_hash=idempotency.fingerprint(write.kind, asked))
        prior = svc.operation_by_key(key)
        if prior is not None:
            return idempotency.replay(prior, ctx.request_hash)
    if ctx.queue is not None:
        return queued.enqueue(svc, write, ctx)
    config = svc.config()
    graph = svc.graph(config)
    try:
        with locked(svc, ctx) as (lock_wait_ms, held):
            # Kept under the lock, so a retry that waited for it finds the answer.
            keep = key is not None and ctx.on_recorded is None and ctx.queued is None
            recorded: list[str] = []  # this call's operation, once recorded
            try:
                result = _under_lock(svc, graph, config, write, ctx, lock_wait_ms, held, recorded)
            except exceptions.Problem as problem:
                # Only a problem of this call's own operation: one refused before it was
                # recorded ran nothing, and may name another operation (recovery-required).
                if keep and recorded:
                    idempotency.keep_problem(svc.oplog, recorded[0], problem)
                raise
            finally:
                # An ending the database did not take at once (a busy log) is written before
                # the lock goes: with the lock free and the record 'running', another process
                # would call the operation interrupted.
                if recorded:
                    svc.oplog.settle(recorded[0])
            result.duration_ms = elapsed_ms(start)
            if keep:
                idempotency.keep(svc.oplog, result.operation_id, result)
            return result
    except exceptions.AlreadyDone as done:  # the key was recorded while this call waited
        return idempotency.replay(done.operation, ctx.request_hash)


def _under_lock(
    svc, graph, config, write: Write, ctx, lock_wait_ms, held, recorded: list[str]
) -> RunResult:
    if ctx.idempotency_key and ctx.queued is None:
        done = svc.oplog.by_key(ctx.idempotency_key)
        if done is not None:
            raise exceptions.AlreadyDone(done)
    # Read under the lock: a late caller whose work is already done gets a no-op.
    heads = svc.bind_heads()
    before = heads[DEFAULT]
    check_preconditions(svc, write.kind, write.sql, before, write.resolves, ctx)
    integrity_gate.check_gone(svc, graph, write, heads)
    chains: dict[str, list] = {}  # bind -> the steps from where it is
    recorder = AppliedRecorder(svc, graph, write.kind)
    with loss_guard.planned_since(write, before):
        for name, bind_before in heads.items():
            with bind_runs.for_bind(name) if svc.binds.multi else nullcontext():
                chains[name] = planned_steps(graph, write, bind_before)
            if not write.sql:
                recorder.prepare(chains[name])
    planned = sum(len(steps) for steps in chains.values())
    acknowledged = accepted = None
    if write.kind != "stamp" and not write.sql and (planned or write.plan_id):
        accepted = integrity_gate.check(svc, graph, write, chains)
        acknowledged = loss_guard.check(svc, graph, config, write, heads, chains)
    op = svc.oplog.start(
        kind=write.kind,
        actor=ctx.actor,
        target=write.target,
        sql=write.sql,
        from_=before,
        client_address=ctx.client_address,
        idempotency_key=ctx.idempotency_key,
        request_hash=ctx.request_hash,
        lock_wait_ms=lock_wait_ms,
        steps_total=planned,
        resolves=write.resolves,
        binds=bind_runs.started(heads) if svc.binds.multi else None,
        acknowledged=acknowledged,
        accepted_changed=accepted,
        queued=ctx.queued,
    )
    recorded.append(op.id)
    if ctx.on_recorded is not None:
        if ctx.idempotency_key:
            idempotency.keep(svc.oplog, op.id, idempotency.Accepted(op.id))
        ctx.on_recorded(op.id)
    result = RunResult(from_=before, to=before, operation_id=op.id)
    if svc.binds.multi:
        result.binds = bind_runs.finished(heads, None, StepTimer(), write.kind, write.sql)
    ran = (planned or write.purge) and not write.sql
    if planned or write.sql or write.purge:
        _execute(svc, graph, config, write, result, held, heads, ctx, recorder)
    svc.oplog.finish(
        op.id,
        status=log.SUCCEEDED,
        to=result.to,
        steps=result.rendered if write.sql else result.steps,
        resolves=write.resolves,
        binds=result.binds,
        revisions=recorder.changes(op.id, heads, _after(result, svc.binds.multi)) if ran else None,
    )
    return result


def _after(result: RunResult, multi: bool) -> dict[str, tuple[str, ...]]:
    """Each bind's revisions after a run, as read back."""
    if not multi:
        return {DEFAULT: tuple(result.to)}
    return {n: tuple(b["to"]) for n, b in result.binds.items() if b["to"] is not None}


def plan(svc: MigrationService, write: Write, undo: bool = True) -> Plan:
    """The plan of ``write`` from where the databases are; nothing runs, nothing is locked
    (the plan_id tells the write later whether anything moved meanwhile).

    :raises RevisionConflict, UnknownRevision, MultipleHeads, DryRunFailed, DatabaseUnavailable:
    """
    config = svc.config()
    graph = svc.graph(config)
    heads = svc.bind_heads()
    for name, before in heads.items():
        with bind_runs.for_bind(name) if svc.binds.multi else nullcontext():
            planned_steps(graph, write, before)
    return make_plan(svc, graph, config, write, heads, undo=undo)


def planned_steps(graph: RevisionGraph, write: Write, before: tuple[str, ...]) -> list:
    """The steps from ``before``, refused before anything is recorded when they cannot run.

    :raises RevisionConflict, UnknownRevision, MultipleHeads:
    """
    if write.kind == "downgrade" and _RELATIVE.match(write.target) and len(before) > 1:
        raise exceptions.RevisionConflict(
            f"The database has several heads; '{write.target}' does not say which branch to "
            "walk down. Name the revision to downgrade to.",
            current=list(before),
        )
    # From a merge point, Alembic says only "Ambiguous walk": name its parents instead.
    at = graph.by_id.get(before[0]) if len(before) == 1 else None
    parents = at.down_revisions if at is not None else ()
    if write.kind == "downgrade" and _RELATIVE.match(write.target) and len(parents) > 1:
        raise exceptions.RevisionConflict(
            f"The database is at a merge point ({before[0]}); '{write.target}' does not say "
            "which branch to walk down. Name the revision to downgrade to; one step down is "
            f"{' or '.join(parents)} (either reverts {before[0]} alone).",
            current=list(before),
            candidates=list(parents),
        )
    if not (write.kind == "stamp" and write.purge):
        graph.check_known(before)
    try:
        with revision_errors(graph.script.revision_map):
            return list(write.plan(graph, before))
    except exceptions.RevisionConflict as conflict:
        conflict.extra.setdefault("current", list(before))
        raise


def _execute(
    svc,
    graph,
    config: Config,
    write: Write,
    result: RunResult,
    held: HeldLock,
    heads: dict,
    ctx: CallContext,
    recorder: AppliedRecorder,
) -> None:
    """Run the steps through env.py on every bind (``heads``: where each is now), retrying a
    revision that timed out waiting for a lock; fill ``result`` from what the databases say
    after.

    :raises MigrationFailed, LockLost, DryRunFailed:
    """
    if write.sql:
        dry_run.render(svc, graph, config, write, result, heads)
        return
    op_id = result.operation_id
    create_tenant_schema(svc.engine)  # a tenant schema's first write makes it
    progress = ProgressWriter(svc.oplog, op_id)
    timer = StepTimer(operation_id=op_id, verb=_VERBS[write.kind], on_step=progress)
    timer.digests = recorder.sql if write.kind == "upgrade" else None  # a stamp runs no SQL
    timer.guard = lock_guard(svc, op_id, held, timer)
    locks = ddl_locks(svc, graph, write.kind, timer, ctx, op_id)
    try:
        with svc.app_context():
            locks.run(
                lambda: run_env(
                    config,
                    graph.script,
                    lambda heads: write.plan(graph, heads),
                    purge=write.purge,
                    version_table=svc.version_table,
                    timer=timer,
                    bind=locks.binding(held.bind),
                    binds=svc.binds,
                )
            )
    except StepsFailed as failed:
        roots = config.attributes[ROOTS]
        problem = failure(
            svc, graph, op_id, write.kind, write.target, heads, failed, roots, recorder
        )
        problem.detail = locks.explain(failed, problem.detail, problem.extra)
        raise problem from failed.error
    finally:
        progress.close()
        drift.record_schema(svc, op_id)  # succeeded or failed: the schema it left
    result.retries = locks.retries
    after = svc.bind_heads()
    result.to = after[DEFAULT]
    if write.kind != "stamp":
        result.steps = timer.by_bind.get(DEFAULT, [])
    if svc.binds.multi:
        result.binds = bind_runs.finished(heads, after, timer, write.kind, sql=False)
