"""What only Alembic can tell of a plan's steps: a step that cannot be rendered or run, a
change that cannot be undone, a rollback that undoes nothing (the AL codes). Each step's
opposite is rendered offline from where the chain ends, and compared with it."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from api.service.binds import DEFAULT
from api.service.database import describe_error
from api.service.risk import Finding, alembic_finding
from api.service.runner import StepsFailed
from api.service.step_sql import Rendered, StepSQL, render_steps, reversed_steps

if TYPE_CHECKING:
    from alembic.config import Config

    from api.service import MigrationService
    from api.service.graph import RevisionGraph


def opposites(
    svc: MigrationService, graph: RevisionGraph, config: Config, rendered: Rendered
) -> dict[tuple[str, str], StepSQL]:
    """Each step's opposite (the downgrade of an upgrade step, and back), rendered offline
    from where the chain ends; empty where that cannot be told (several databases, or a
    rendering that fails)."""
    steps = rendered.steps
    if rendered.on_copy and steps and steps[-1].error is not None:
        # The copy stopped before the step that raised (a downgrade that refuses): the chain
        # ends where that step starts, so undoing it is not part of going back from there.
        steps = steps[:-1]
    if svc.binds.multi or not steps:
        return {}
    undo = reversed_steps(steps, graph)
    try:
        back = render_steps(
            svc, graph, config, lambda _h: undo, rendered.heads or {DEFAULT: ()}, offline_only=True
        )
    except StepsFailed:
        return {}
    return {(s.bind, s.revision): s for s in back.steps}


_DDL = re.compile(r"^\s*(CREATE|ALTER|DROP|RENAME|COMMENT|TRUNCATE)\b", re.IGNORECASE)


def changes_schema(sql: str, version_table: str) -> bool:
    """Whether a step's SQL changes the schema (DDL), besides the version table's own."""
    for statement in re.split(r";\s*\n", sql):
        lines = [ln for ln in statement.splitlines() if not ln.strip().startswith("--")]
        text = " ".join(lines).strip()
        if _DDL.match(text) and version_table not in text:
            return True
    return False


def alembic_findings(step: StepSQL, opposite: StepSQL | None, version_table: str) -> list[Finding]:
    """What only Alembic can tell: a step that cannot run or be rendered, a change that
    cannot be undone, a rollback that undoes nothing."""
    found = []
    verb = "upgrade" if step.is_upgrade else "downgrade"
    if isinstance(step.error, NotImplementedError) and not step.is_upgrade:
        refusal = alembic_finding(
            "AL102",
            f"The downgrade of {step.revision} raises NotImplementedError: the rollback "
            "stops at this revision.",
        )
        found.append(replace(refusal, severity="error"))  # this rollback will fail
    elif step.error is not None and step.failed_on_copy:
        failure = alembic_finding(
            "AL103",
            f"The {verb} of {step.revision} failed when run on a throw-away copy of the "
            f"database ({describe_error(step.error)}): the change would stop there, and the "
            "steps after it are not in this plan.",
        )
        found.append(replace(failure, severity="error"))
    elif step.error is not None:
        found.append(
            alembic_finding(
                "AL103",
                f"The {verb} of {step.revision} cannot be rendered without running it "
                f"({describe_error(step.error)}): its SQL is not in this plan, and what it "
                "does is not checked.",
            )
        )
    if opposite is None or step.error is not None:
        return found
    if step.is_upgrade and isinstance(opposite.error, NotImplementedError):
        refusal = alembic_finding(
            "AL102",
            f"{step.revision} cannot be rolled back: its downgrade raises NotImplementedError.",
        )
        found.append(replace(refusal, severity="warning"))  # a later rollback would fail
        return found
    up, down = (step, opposite) if step.is_upgrade else (opposite, step)
    changes, undoes = (changes_schema(s.sql, version_table) for s in (up, down))
    if down.error is None and up.error is None and changes and not undoes:
        found.append(
            alembic_finding(
                "AL101",
                f"The downgrade of {step.revision} does nothing, while its upgrade changes "
                "the schema: a rollback past it leaves that change in place.",
            )
        )
    return found
