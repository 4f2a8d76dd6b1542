"""Dry runs (``sql: true``): the SQL a write would run, and where it leads; nothing runs.

The SQL is rendered offline, as ``alembic upgrade --sql`` renders it. A revision that needs a
live connection (Alembic's batch mode on SQLite reflects the table it copies) cannot be
rendered so; on a SQLite file the whole chain then runs on a throw-away copy of the database
and the statements it executed are the answer. Elsewhere, the problem says why not.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from alembic.util import CommandError

from api import exceptions
from api.service import bind_runs
from api.service import oplog as log
from api.service.binds import DEFAULT
from api.service.copy_run import EnvConnectsElsewhere, run_on_copy
from api.service.database import describe_error
from api.service.results import RunResult
from api.service.runner import StepsFailed, StepTimer, run_env
from api.service.sqlite_copy import StatementLog, copyable

if TYPE_CHECKING:
    from alembic.config import Config

    from api.service import MigrationService
    from api.service.commands import Write
    from api.service.graph import RevisionGraph

logger = logging.getLogger(__name__)


def render(
    svc: MigrationService,
    graph: RevisionGraph,
    config: Config,
    write: Write,
    result: RunResult,
    heads: dict[str, tuple[str, ...]],
) -> None:
    """Fill ``result`` with the SQL from each database's revision (``heads``, by bind) to the
    target, the steps it renders and the revisions it leads to.

    :raises DryRunFailed: nothing ran on the database.
    """
    timer = StepTimer(operation_id=result.operation_id, verb="rendered")
    try:
        with svc.app_context():  # the user's application, as `flask --app <it> db` runs
            run_env(
                config,
                graph.script,
                lambda heads: write.plan(graph, heads),
                as_sql=True,
                starting_rev=heads,
                version_table=svc.version_table,
                timer=timer,
                binds=svc.binds,
            )
        sql = timer.sql.get(DEFAULT, config.output_buffer).getvalue()
    except StepsFailed as failed:
        if not (needs_connection(failed.error) and copyable(svc.engine)):
            raise _failed(svc, write, result, failed) from failed.error
        timer, sql = _on_copy(svc, graph, write, result)
    result.sql, result.rendered = sql, timer.by_bind.get(DEFAULT, timer.done)
    result.to = timer.heads.get(DEFAULT, result.from_)
    if svc.binds.multi:
        result.binds = bind_runs.finished(heads, None, timer, write.kind, sql=True)


def needs_connection(error: BaseException) -> bool:
    """Alembic refused to render a step offline because it needs the database itself."""
    return isinstance(error, CommandError) and "cannot proceed in --sql mode" in str(error)


def _on_copy(svc, graph, write: Write, result: RunResult) -> tuple[StepTimer, str]:
    """Run the chain on a throw-away copy of the SQLite file and return what it executed.

    :raises DryRunFailed:
    """
    statements = StatementLog()
    timer = StepTimer(
        operation_id=result.operation_id,
        verb="rendered",
        on_step=lambda _done, revision: statements.note(
            f"Running {write.kind} of revision {revision}"
        ),
    )
    try:
        run_on_copy(svc, graph, lambda heads: write.plan(graph, heads), timer, statements)
    except StepsFailed as failed:
        raise _failed(svc, write, result, failed, on_copy=True) from failed.error
    return timer, statements.text()


def _failed(svc, write: Write, result: RunResult, failed: StepsFailed, on_copy: bool = False):
    """Record the dry run as failed (nothing ran: no recovery is needed) and say why."""
    try:
        now: list[str] | None = list(svc.database_heads())
    except exceptions.DatabaseUnavailable:
        now = None
    running = failed.timer.running
    elsewhere = isinstance(failed.error, EnvConnectsElsewhere)
    live = elsewhere or needs_connection(failed.error)
    error = (
        "env.py connects to the database by itself" if elsewhere else describe_error(failed.error)
    )
    svc.oplog.finish(
        result.operation_id,
        status=log.FAILED,
        to=now,
        steps=[],
        error=error,
        failed_revision=running.revision if running else None,
        partial_possible=False,
    )
    logger.error(
        "dry run %s (%s to %s) failed: %s",
        result.operation_id,
        write.kind,
        write.target,
        error,
        extra={"event": "operation_failed", "operation_id": result.operation_id, "error": error},
    )
    where = f"revision {running.revision}" if running else "env.py, before any revision ran"
    detail = f"The dry run of {write.kind} to {write.target} stopped in {where}: {error}"
    detail = detail if detail.endswith(".") else detail + "."
    if elsewhere:
        detail += (
            " A revision needs a live connection (batch mode reflects the table), so the SQL "
            "can only be had by running the chain on a throw-away copy of the SQLite file; "
            "but env.py ignores the copy it is given (sqlalchemy.url, and "
            "config.attributes['connection'] as in Alembic's cookbook) and connects to the "
            "database itself, so the copy was not used."
        )
    elif live:
        detail += (
            " That revision needs a live database connection, so its SQL cannot be rendered "
            "offline. Run the migration on a copy of this database (a staging database) to "
            "see what it does."
        )
    elif on_copy:
        detail += " It failed while running on a throw-away copy of the database."
    detail += " Nothing ran on the database; no SQL is returned."
    return exceptions.DryRunFailed(
        detail,
        operation_id=result.operation_id,
        failed_revision=running.revision if running else None,
        error=error,
        live_connection_required=live,
        partial_possible=False,
        completed=[],
        **{"from": list(result.from_)},
        current=now,
    )
