"""The data-loss guard: a write whose plan destroys data that exists now runs only when the
caller sends that plan's ``plan_id``, which says they have seen what it destroys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING

from api import exceptions
from api.service.loss_screen import cannot_destroy
from api.service.plans import Plan, make_plan

if TYPE_CHECKING:
    from alembic.config import Config

    from api.service import MigrationService
    from api.service.graph import RevisionGraph


def check(
    svc: MigrationService,
    graph: RevisionGraph,
    config: Config,
    write,
    heads: dict[str, tuple[str, ...]],
    chains: dict[str, list],
) -> dict | None:
    """Refuse ``write`` when its plan destroys existing data unacknowledged; return what the
    operation log records as acknowledged (None when nothing was). ``chains``: each bind's
    steps from ``heads``, as Alembic plans them.

    :raises UnacknowledgedDataLoss: a blocking finding, and no ``plan_id``.
    :raises PreconditionFailed: a ``plan_id`` that is not this plan's (the database or the
        files moved since it was made).
    :raises DryRunFailed, DatabaseUnavailable:
    """
    if write.plan_id is None and _only_creating(chains):
        return None
    try:
        plan = make_plan(svc, graph, config, write, heads, undo=False, all_facts=False)
    except exceptions.DryRunFailed:
        if write.plan_id is not None:
            raise
        # env.py itself fails: so will the write, which records and reports it as it always has.
        return None
    if write.plan_id is not None and write.plan_id != plan.plan_id:
        raise exceptions.PreconditionFailed(
            f"The plan {write.plan_id} no longer describes this change: the database or the "
            "revision files have moved since it was made. Ask POST /plan again and review it.",
            # Not the new plan's id: a script that resent it would run what nobody reviewed.
            current=list(heads[next(iter(heads))]),
        )
    blocking = plan.blocking
    if write.plan_id is not None:
        return {"plan_id": plan.plan_id, "findings": [asdict(f) for f in blocking]}
    if blocking:
        raise exceptions.UnacknowledgedDataLoss(_detail(plan), **record(plan))
    return None


@contextmanager
def planned_since(write, current: tuple[str, ...]) -> Iterator[None]:
    """A write that carries a plan_id, and cannot be planned from where the database is now,
    was planned from somewhere else: the database moved (412), whatever Alembic says of the
    target from here (a rollback sent twice, now at a merge point, is not a revision conflict).
    """
    try:
        yield
    except (exceptions.RevisionConflict, exceptions.UnknownRevision) as refused:
        if write.plan_id is None:
            raise
        raise exceptions.PreconditionFailed(
            f"The plan {write.plan_id} no longer describes this change: the database has "
            f"moved since it was made ({refused.detail}). Ask POST /plan again and review it.",
            current=list(current),
        ) from refused


def _only_creating(chains: dict[str, list]) -> bool:
    """Every step of the chain, on every bind, provably destroys nothing."""
    return all(
        cannot_destroy(step.revision.module, step.is_upgrade)
        for steps in chains.values()
        for step in steps
    )


def record(plan: Plan) -> dict:
    """The plan's id and findings as plain data (the problem's fields)."""
    return {
        "plan_id": plan.plan_id,
        "from": list(plan.from_),
        "findings": [asdict(f) for f in plan.findings],
    }


def _detail(plan: Plan) -> str:
    lost = []
    for f in plan.blocking:
        where = f"{f.table}.{f.column}" if f.column else (f.table or f.schema)
        rows = (f.facts or {}).get("rows_estimate")
        about = f", about {rows} rows" if rows else ""
        lost.append(f"{where} ({f.code}, revision {f.revision}{about})")
    return (
        f"This {plan.action} to {plan.target} destroys data that exists now: "
        f"{'; '.join(lost)}. Nothing ran. Review POST /plan and send its plan_id to run it."
    )
