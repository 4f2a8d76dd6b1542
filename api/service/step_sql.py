"""Each step's own SQL, for a plan: the chain rendered once from where the database is, as
``flask db upgrade --sql`` renders it, and cut where each step starts.

A step that raises ``NotImplementedError`` (a downgrade written to refuse) is noted and the
rest still rendered: the plan says which step cannot run instead of showing nothing. Where a
revision needs a live connection (Alembic's batch mode on SQLite), the chain runs on a
throw-away copy of the SQLite file instead, and each step's columns-before are read there.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic.runtime.migration import RevisionStep

from api.service import risk
from api.service.binds import DEFAULT
from api.service.copy_run import run_on_copy
from api.service.runner import StepsFailed, StepTimer, run_env
from api.service.sqlite_copy import StatementLog, copyable

if TYPE_CHECKING:
    from alembic.config import Config

    from api.service import MigrationService
    from api.service.graph import RevisionGraph

# Every table's columns in one query (SQLite's table-valued pragma), at each step's start.
_COLUMNS = (
    "SELECT m.name, p.name FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p "
    "WHERE m.type = 'table' ORDER BY m.name, p.cid"
)


@dataclass
class StepSQL:
    """One step as it would run: its revision, its SQL alone, and what stopped it rendering."""

    revision: str
    message: str | None
    is_upgrade: bool
    bind: str = DEFAULT
    sql: str = ""
    error: BaseException | None = None
    # The error came from running the step on a copy of the database: it fails when run.
    failed_on_copy: bool = False
    # Table -> its columns when the step starts (read on a copy; None when rendered offline).
    columns: dict[str, list[str]] | None = None
    # Whether the step starts inside a transaction opened before its SQL (rendered offline).
    in_transaction: bool = False


@dataclass
class Rendered:
    steps: list[StepSQL] = field(default_factory=list)
    # Where each bind's chain ends (the version table's rows after its last step).
    heads: dict[str, tuple[str, ...]] = field(default_factory=dict)
    on_copy: bool = False


def render_steps(
    svc: MigrationService,
    graph: RevisionGraph,
    config: Config,
    plan: Callable[[tuple[str, ...]], Iterable],
    heads: Mapping[str, tuple[str, ...]],
    offline_only: bool = False,
) -> Rendered:
    """Render ``plan`` from each bind's ``heads``, step by step. A step that cannot be
    rendered offline is noted as its ``error`` where no copy is made (not a SQLite file, or
    ``offline_only``); on a SQLite file the chain then runs on a copy.

    :raises StepsFailed: env.py raised, or a step failed on the copy.
    """
    if offline_only or not copyable(svc.engine):
        return _offline(svc, graph, config, plan, heads, offline_only=True)
    try:
        return _offline(svc, graph, config, plan, heads, offline_only=False)
    except StepsFailed as failed:
        if failed.timer.running is None:  # env.py itself failed: a copy would not help
            raise
    return _on_copy(svc, graph, plan)


def reversed_steps(steps: list[StepSQL], graph: RevisionGraph) -> list[RevisionStep]:
    """The steps that undo ``steps``, in the order that undoes them."""
    revision_map = graph.script.revision_map
    return [
        RevisionStep(revision_map, graph.script.get_revision(s.revision), not s.is_upgrade)
        for s in reversed(steps)
    ]


class _Tolerant:
    """A step whose failure to render is noted instead of ending the rendering: a downgrade
    written to refuse (``NotImplementedError``) always; with ``offline_only``, anything (a step
    that needs a live connection: ``op.get_bind()`` is None offline), since no copy will run it.
    """

    def __init__(self, step, failures: dict[str, BaseException], offline_only: bool):
        self._step, self._failures, self._offline_only = step, failures, offline_only

    def __getattr__(self, name):
        return getattr(self._step, name)

    def __str__(self) -> str:
        return str(self._step)

    @property
    def migration_fn(self):
        run, step = self._step.migration_fn, self._step

        def tolerant(**kw):
            try:
                run(**kw)
            except Exception as exc:
                refused = isinstance(exc, NotImplementedError) and not step.is_upgrade
                if not (refused or self._offline_only):
                    raise
                self._failures[step.revision.revision] = exc

        return tolerant


def _offline(svc, graph, config, plan, heads, offline_only: bool) -> Rendered:
    failures: dict[str, BaseException] = {}
    starts: list[tuple[StepSQL, io.StringIO, int]] = []
    timer = StepTimer(verb="rendered", log_steps=False)

    def tolerant(current):
        return [_Tolerant(step, failures, offline_only) for step in plan(current)]

    def on_step(_done: int, _revision: str) -> None:
        step = _step_of(timer)
        buffer = timer.sql[step.bind]
        starts.append((step, buffer, buffer.tell()))

    timer.on_step = on_step
    with svc.app_context():
        run_env(
            config,
            graph.script,
            tolerant,
            as_sql=True,
            starting_rev=heads,
            version_table=svc.version_table,
            timer=timer,
            binds=svc.binds,
        )
    read: dict[int, tuple[int, bool]] = {}  # buffer -> how far read, transaction open there
    for i, (step, buffer, start) in enumerate(starts):
        later = [pos for s, b, pos in starts[i + 1 :] if b is buffer]
        text = buffer.getvalue()
        step.sql = text[start : later[0] if later else None]
        step.error = failures.get(step.revision)
        # What came before the step (the chain's BEGIN, earlier steps' COMMIT and BEGIN
        # around an autocommit_block()) says whether its statements run in a transaction.
        pos, open_ = read.get(id(buffer), (0, False))
        dialect = svc.binds.engines[step.bind].dialect.name
        step.in_transaction = risk.in_transaction_after(text[pos:start], dialect, open_)
        read[id(buffer)] = (start, step.in_transaction)
    return Rendered([s for s, _, _ in starts], dict(timer.heads))


def _on_copy(svc, graph, plan) -> Rendered:
    statements = StatementLog()
    timer = StepTimer(verb="rendered", log_steps=False)
    starts: list[tuple[StepSQL, int]] = []
    connection: list[sa.Connection] = []

    def on_step(_done: int, _revision: str) -> None:
        step = _step_of(timer)
        columns: dict[str, list[str]] = {}
        for table, column in connection[0].exec_driver_sql(_COLUMNS):
            columns.setdefault(table, []).append(column)
        step.columns = columns
        starts.append((step, len(statements.lines)))

    timer.on_step = on_step
    failed: StepsFailed | None = None
    try:
        run_on_copy(svc, graph, plan, timer, statements, on_connection=connection.append)
    except StepsFailed as exc:
        if timer.running is None:  # env.py itself failed
            raise
        failed = exc  # the step fails when run: the steps after it cannot be known
    for i, (step, start) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else None
        step.sql = "\n".join(statements.lines[start:end])
    if failed is not None:
        starts[-1][0].error, starts[-1][0].failed_on_copy = failed.error, True
    return Rendered([s for s, _ in starts], dict(timer.heads), on_copy=True)


def _step_of(timer: StepTimer) -> StepSQL:
    running = timer.running
    return StepSQL(
        revision=running.revision,
        message=running.message,
        is_upgrade=getattr(timer.step, "is_upgrade", True),
        bind=timer.bind or DEFAULT,
    )
