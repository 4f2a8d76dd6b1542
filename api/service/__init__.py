"""The migration service: the one part of Migrateway that talks to Alembic.

Functions are named after the ``alembic`` / ``flask db`` commands they stand for and keep
their parameter names. They take and return plain data and raise ``api.exceptions``;
they never look at a request.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace

from alembic.config import Config
from flask import current_app
from sqlalchemy import Engine

from api import exceptions
from api.service.alembic_env import build_config
from api.service.database import current_heads, describe_error
from api.service.graph import GraphCache, RevisionGraph, revision_errors
from api.service.results import (
    Branch,
    CurrentState,
    RevisionInfo,
    RevisionPage,
    RunResult,
)
from api.service.runner import StepsFailed, run_env

__all__ = ["MigrationService"]

# A step relative to the current revision: "-1", "+2" (not "head-1" or "label@-1").
_RELATIVE = re.compile(r"^[+-]\d+$")


class MigrationService:
    """Reads and changes the target database's schema version through Alembic."""

    def __init__(self, migrate, engine_getter, directory: str, database_url: str):
        self._migrate = migrate
        self._engine_getter = engine_getter
        self.directory = directory
        self.database_url = database_url
        self._graphs = GraphCache()

    # -- plumbing -------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return self._engine_getter()

    def config(self) -> Config:
        """A fresh Alembic Config for one command (it carries that command's output buffer)."""
        return build_config(self._migrate, self.directory, self.database_url)

    def graph(self, config: Config | None = None) -> RevisionGraph:
        return self._graphs.get(config or self.config())

    # -- reads ----------------------------------------------------------------------------

    def history(self, limit: int | None = None, offset: int = 0) -> RevisionPage:
        """The revision graph, newest first, marked with what the database has applied."""
        graph = self.graph()
        applied = graph.applied(current_heads(self.engine))
        window = graph.ordered[offset : None if limit is None else offset + limit]
        items = [_with_applied(info, applied) for info in window]
        return RevisionPage(items=items, total=len(graph.ordered), limit=limit, offset=offset)

    def show(self, rev: str) -> RevisionInfo:
        """One revision by id, unique prefix or symbol.

        :raises UnknownRevision, AmbiguousRevision, MultipleHeads:
        """
        graph = self.graph()
        info = graph.resolve(rev)
        return _with_applied(info, graph.applied(current_heads(self.engine)))

    def current(self) -> CurrentState:
        """Where the database is, where the scripts end, and what an upgrade would apply.

        :raises RevisionConflict: the database is at a revision the directory lacks.
        """
        graph = self.graph()
        current = current_heads(self.engine)
        graph.check_known(current)
        with revision_errors(graph.script):
            steps = graph.script._upgrade_revs("heads", current) if graph.heads else []
        return CurrentState(
            current=current,
            heads=tuple(sorted(graph.heads)),
            pending=tuple(step.revision.revision for step in steps),
        )

    def heads(self) -> list[RevisionInfo]:
        """The head revisions, as ``flask db heads``."""
        graph = self.graph()
        applied = graph.applied(current_heads(self.engine))
        return [_with_applied(graph.by_id[h], applied) for h in sorted(graph.heads)]

    def branches(self) -> list[Branch]:
        """The branch points and the revisions that follow each, as ``flask db branches``."""
        graph = self.graph()
        revmap = graph.script.revision_map
        return [
            Branch(
                revision=info.revision,
                message=info.message,
                next_revisions=tuple(sorted(revmap.get_revision(info.revision).nextrev)),
            )
            for info in graph.ordered
            if info.is_branch_point
        ]

    # -- writes ---------------------------------------------------------------------------

    def upgrade(self, target: str = "head", sql: bool = False) -> RunResult:
        """Upgrade to ``target`` (a revision, ``head``, ``heads``, ``+N``, ``label@head``).

        With ``sql`` the SQL from the database's actual revision to the target is returned
        and nothing runs.

        :raises UnknownRevision, MultipleHeads, RevisionConflict, MigrationFailed,
            DatabaseUnavailable:
        """
        return self._run("upgrade", target, sql=sql)

    def downgrade(self, target: str, sql: bool = False) -> RunResult:
        """Downgrade to ``target`` (a revision, ``-N``, ``base``); see :meth:`upgrade`.

        A relative step from several heads is refused: which branch it walks down is a guess
        (Alembic only warns), and a rollback must never guess.
        """
        if _RELATIVE.match(target):
            before = current_heads(self.engine)
            if len(before) > 1:
                raise exceptions.RevisionConflict(
                    f"The database has several heads; '{target}' does not say which branch to "
                    "walk down. Name the revision to downgrade to.",
                    current=list(before),
                )
        return self._run("downgrade", target, sql=sql)

    def stamp(self, target: str, purge: bool = False) -> RunResult:
        """Set the version table to ``target`` without running any migration."""
        return self._run("stamp", target, purge=purge)

    def _run(self, kind: str, target: str, sql: bool = False, purge: bool = False) -> RunResult:
        config = self.config()
        graph = self.graph(config)
        script = graph.script
        start = time.perf_counter()
        before = current_heads(self.engine)
        if kind != "stamp" or not purge:
            graph.check_known(before)

        def plan(heads: tuple[str, ...]):
            if kind == "upgrade":
                return script._upgrade_revs(target, heads)
            if kind == "downgrade":
                return script._downgrade_revs(target, heads)
            return script._stamp_revs((target,), heads)

        # Resolve the target before env.py runs, so a bad target is a clean 404/409.
        try:
            with revision_errors(script):
                planned = list(plan(() if purge else before))
        except exceptions.RevisionConflict as conflict:
            conflict.extra.setdefault("current", list(before))
            raise
        if not planned and not sql and not purge:
            return RunResult(from_=before, to=before, duration_ms=_ms(start))

        try:
            timer = run_env(
                config,
                script,
                plan,
                as_sql=sql,
                starting_rev=before if sql else None,
                purge=purge,
            )
        except StepsFailed as failed:
            raise self._failure(kind, target, before, failed) from failed.error

        result = RunResult(from_=before, to=before if sql else current_heads(self.engine))
        if kind != "stamp":
            result.steps = timer.done
        if sql:
            result.sql = config.output_buffer.getvalue()
        result.duration_ms = _ms(start)
        return result

    def _failure(self, kind, target, before, failed: StepsFailed) -> exceptions.MigrationFailed:
        """Describe a failed run from what the database says now, never from assumptions."""
        try:
            now: list[str] | None = list(current_heads(self.engine))
        except exceptions.DatabaseUnavailable:
            now = None
        running = failed.timer.running
        where = f"revision {running.revision}" if running else "env.py, before any revision ran"
        return exceptions.MigrationFailed(
            f"{kind} to {target} failed in {where}: {describe_error(failed.error)}",
            failed_revision=running.revision if running else None,
            error=describe_error(failed.error),
            completed=[
                {"revision": s.revision, "message": s.message, "duration_ms": s.duration_ms}
                for s in failed.timer.done
            ],
            **{"from": list(before)},
            current=now,
        )


def _with_applied(info: RevisionInfo, applied: frozenset[str]) -> RevisionInfo:
    return replace(info, applied=info.revision in applied)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def service() -> MigrationService:
    """The service of the current app."""
    return current_app.extensions["migrateway"]
