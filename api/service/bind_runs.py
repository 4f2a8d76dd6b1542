"""Each bind's part of a write on a multi-database application, as the answer, the operation
log and a failure report it: plain JSON data, read back from each database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from api import exceptions
from api.service.database import current_heads
from api.service.graph import RevisionGraph
from api.service.results import StepResult

if TYPE_CHECKING:
    from api.service import MigrationService
    from api.service.runner import StepTimer

Heads = dict[str, tuple[str, ...]]


@contextmanager
def for_bind(name: str) -> Iterator[None]:
    """Say which bind a problem is about: its detail opens with it, its body names it."""
    try:
        yield
    except exceptions.Problem as problem:
        problem.detail = f"Bind '{name}': {problem.detail}"
        problem.extra.setdefault("bind", name)
        raise


def steps_json(steps: list[StepResult]) -> list[dict]:
    return [
        {"revision": s.revision, "message": s.message, "duration_ms": s.duration_ms} for s in steps
    ]


def started(before: Heads) -> dict[str, dict]:
    """What the log holds for each bind while the operation runs."""
    return {name: {"from": list(heads), "to": None, "steps": []} for name, heads in before.items()}


def finished(
    before: Heads, after: Heads | None, timer: StepTimer, kind: str, sql: bool
) -> dict[str, dict]:
    """Where each bind went: its revisions before and after (read back), its own steps (a
    revision that ran on two binds is a step of each, never two of one), a dry run's SQL."""
    return {
        name: {
            "from": list(heads),
            # A dry run's: where its SQL leads, as Alembic kept the version table offline.
            "to": list(after[name]) if after is not None else list(timer.heads.get(name, heads)),
            "steps": [] if kind == "stamp" else steps_json(timer.by_bind.get(name, [])),
            **({"sql": _sql(timer, name)} if sql else {}),
        }
        for name, heads in before.items()
    }


def _sql(timer: StepTimer, name: str) -> str:
    buffer = timer.sql.get(name)
    return buffer.getvalue() if buffer is not None else ""


def committed(
    graph: RevisionGraph, kind: str, steps: list[StepResult], now: tuple[str, ...] | None
) -> list[StepResult]:
    """The steps of a failed run that the database still holds (``now``, read back; None when
    it cannot be read): where DDL is transactional, steps run in one transaction are undone
    together with the one that failed."""
    if now is None or kind == "stamp":
        return steps
    applied = graph.applied(now)
    return [s for s in steps if (s.revision in applied) == (kind == "upgrade")]


def after_failure(
    svc: MigrationService, graph: RevisionGraph, kind: str, before: Heads, timer: StepTimer
) -> dict[str, dict]:
    """Where each bind is after a failed run, read back from its database (``current`` is None
    where it cannot be reached), with the steps it kept: on a database with transactional DDL
    the failure rolled back the steps env.py had not committed yet, whatever bind they ran on."""
    result = {}
    for name, heads in before.items():
        try:
            now: tuple[str, ...] | None = current_heads(svc.binds.engines[name], svc.version_table)
        except exceptions.DatabaseUnavailable:
            now = None
        steps = committed(graph, kind, timer.by_bind.get(name, []), now)
        result[name] = {
            "from": list(heads),
            "current": list(now) if now is not None else None,
            "completed": steps_json(steps),
        }
    return result


def as_logged(failed: dict[str, dict]) -> dict[str, dict]:
    """A failure's account of each bind (:func:`after_failure`) as the operation log keeps a
    bind's part: from, to, steps."""
    return {
        name: {"from": bind["from"], "to": bind["current"], "steps": bind["completed"]}
        for name, bind in failed.items()
    }
