"""The plan of a change: each step's SQL from where the database is, what it would destroy,
lock or fail on, checked against the live data, and a digest that names exactly this plan.

Each step is analysed on its own (api/service/risk): linting a whole range would hide what a
step does to a table an earlier step created. A finding that destroys data is ``blocking``
when the live database holds that data now.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from api import exceptions
from api.service import risk
from api.service.binds import DEFAULT
from api.service.database import describe_error, reachable
from api.service.dry_run import needs_connection
from api.service.file_digests import content_digest, sha256
from api.service.live_facts import LiveFacts
from api.service.risk import Finding
from api.service.runner import StepsFailed
from api.service.step_sql import StepSQL, render_steps
from api.service.undo_checks import alembic_findings, opposites

if TYPE_CHECKING:
    from alembic.config import Config

    from api.service import MigrationService
    from api.service.graph import RevisionGraph


@dataclass(frozen=True)
class PlanFinding:
    """A finding of one step, with what the live database holds where it points."""

    code: str
    severity: str
    revision: str
    detail: str
    statement: str | None = None
    table: str | None = None
    column: str | None = None
    schema: str | None = None
    facts: dict | None = None
    blocking: bool = False
    bind: str | None = None
    # What existing data it destroys ("schema", "table", "column"), as the analysis says.
    loss: str | None = None


@dataclass
class PlanStep:
    revision: str
    message: str | None
    direction: str
    sql: str
    findings: list[PlanFinding] = field(default_factory=list)
    bind: str | None = None


@dataclass
class Plan:
    action: str
    target: str
    from_: tuple[str, ...]
    to: tuple[str, ...]
    plan_id: str
    steps: list[PlanStep]

    @property
    def findings(self) -> list[PlanFinding]:
        return [f for step in self.steps for f in step.findings]

    @property
    def blocking(self) -> list[PlanFinding]:
        return [f for f in self.findings if f.blocking]

    @property
    def blocking_count(self) -> int:
        return len(self.blocking)


def make_plan(
    svc: MigrationService,
    graph: RevisionGraph,
    config: Config,
    write,
    heads: dict[str, tuple[str, ...]],
    undo: bool = True,
    all_facts: bool = True,
) -> Plan:
    """The plan of ``write`` (an upgrade or downgrade) from each bind's ``heads``. With
    ``undo``, each step's opposite is rendered too, to tell which steps cannot be undone;
    without ``all_facts``, only the losses get the live facts (the guard's question).

    :raises DryRunFailed: a step could not be rendered (nothing ran).
    :raises DatabaseUnavailable:
    """
    try:
        rendered = render_steps(svc, graph, config, lambda h: write.plan(graph, h), heads)
    except StepsFailed as failed:
        raise _failed(write, failed) from failed.error
    opposite = opposites(svc, graph, config, rendered) if undo else {}
    steps = []
    for step in rendered.steps:
        dialect = svc.binds.engines[step.bind].dialect.name
        columns = step.columns.get if step.columns is not None else None
        found = [] if step.error else risk.analyze(step.sql, dialect, columns, step.in_transaction)
        found += alembic_findings(
            step, opposite.get((step.bind, step.revision)), svc.version_table.name
        )
        steps.append(
            PlanStep(
                revision=step.revision,
                message=step.message,
                direction="upgrade" if step.is_upgrade else "downgrade",
                sql=step.sql,
                findings=[_placed(f, step) for f in found],
                bind=step.bind if svc.binds.multi else None,
            )
        )
    _check_live(svc, steps, losses_only=not all_facts)
    start, end = heads[DEFAULT], rendered.heads.get(DEFAULT, heads[DEFAULT])
    plan_id = digest(write.kind, heads, rendered.steps, graph)
    return Plan(write.kind, write.target, start, end, plan_id, steps)


def digest(kind: str, heads: dict, steps: list[StepSQL], graph: RevisionGraph) -> str:
    """What names one plan: the starting revisions, and each step with its SQL and the
    checksum of its revision file. Any of them moving gives another id."""
    content = {
        "action": kind,
        "from": {bind: sorted(revs) for bind, revs in sorted(heads.items())},
        "steps": [
            [s.bind, s.revision, s.is_upgrade, sql_digest(s.sql), file_digest(graph, s.revision)]
            for s in steps
        ],
    }
    return sha256(json.dumps(content, sort_keys=True).encode())[:32]


def sql_digest(sql: str) -> str:
    """SHA-256 of a step's SQL with each statement's lines, then the statements, sorted: a
    SQLite batch copy orders a table's constraints and indexes differently from run to run,
    and the same step must keep its plan_id (the revision file's checksum covers its code)."""
    statements = []
    for part in re.split(r";\s*\n", sql):
        lines = sorted(line.strip().rstrip(",").rstrip() for line in part.splitlines())
        statements.append("\n".join(line for line in lines if line))
    return sha256(";\n".join(sorted(s for s in statements if s)).encode())


def file_digest(graph: RevisionGraph, revision: str) -> str:
    """SHA-256 of a revision file, line endings and a BOM normalised (a checkout on another OS
    is the same file)."""
    with open(graph.script.get_revision(revision).path, "rb") as handle:
        return content_digest(handle.read())


def _placed(finding: Finding, step: StepSQL) -> PlanFinding:
    return PlanFinding(
        code=finding.code,
        severity=finding.severity,
        revision=step.revision,
        detail=finding.detail,
        statement=finding.statement or None,
        table=finding.table,
        column=finding.column,
        schema=finding.schema,
        bind=step.bind,
        loss=finding.loss,
    )


def _check_live(svc: MigrationService, steps: list[PlanStep], losses_only: bool) -> None:
    """Give each finding that points at data the live facts, and mark the losses of data that
    exists now ``blocking``. The guard asks only of the losses (``losses_only``): a fact such as
    a column's NULLs may scan a table, which a write should not pay for."""
    pointed = [
        (s, i, f)
        for s in steps
        for i, f in enumerate(s.findings)
        if (f.table or f.schema) and (f.loss or not losses_only)
    ]
    if not pointed:
        return
    by_bind: dict[str, list] = {}
    for item in pointed:
        by_bind.setdefault(item[2].bind or DEFAULT, []).append(item)
    for bind, items in by_bind.items():
        engine = svc.binds.engines[bind]
        with reachable(engine), engine.connect() as conn:
            facts = LiveFacts(conn)
            for step, i, finding in items:
                step.findings[i] = _with_facts(finding, facts)


_FAILS_ON_NULLS = frozenset({"MF104", "PG303"})


def _with_facts(finding: PlanFinding, facts: LiveFacts) -> PlanFinding:
    loss = finding.loss
    if loss == "schema" or (finding.schema and not finding.table):
        known = facts.schema(finding.schema)
        return replace(finding, facts=known, blocking=loss is not None and known["has_rows"])
    if finding.column:
        # Whether a NOT NULL fails on the rows there is a question of their NULLs.
        nulls = finding.code in _FAILS_ON_NULLS
        known = facts.column(finding.table, finding.column, finding.schema, nulls=nulls)
        blocking = loss == "column" and known["has_values"]
    else:
        known = facts.table(finding.table, finding.schema)
        blocking = loss == "table" and known["has_rows"]
    return replace(finding, facts=known, blocking=blocking)


def _failed(write, failed: StepsFailed) -> exceptions.Problem:
    running = failed.timer.running
    error = describe_error(failed.error)
    where = f"revision {running.revision}" if running else "env.py, before any revision"
    detail = f"The plan of {write.kind} to {write.target} could not render {where}: {error}"
    return exceptions.DryRunFailed(
        detail if detail.endswith(".") else detail + ".",
        failed_revision=running.revision if running else None,
        error=error,
        live_connection_required=needs_connection(failed.error),
        partial_possible=False,
        completed=[],
    )
