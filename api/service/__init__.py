"""The migration service: the one part of Migrateway that talks to Alembic.

Functions are named after the ``alembic`` / ``flask db`` commands they stand for and keep
their parameter names. They take and return plain data and raise ``api.exceptions``;
they never look at a request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext

from alembic.config import Config
from flask import current_app
from sqlalchemy import Engine

from api.fleet.scope import current_target
from api.service import commands, drift
from api.service.alembic_env import ROOTS, build_config
from api.service.bind_runs import for_bind
from api.service.binds import DEFAULT, Binds, migrates_each_bind
from api.service.commands import Write
from api.service.context import CallContext
from api.service.database import DEFAULT_VERSION_TABLE, VersionTable, current_heads
from api.service.ddl_locks import DdlLockPolicy
from api.service.graph import RevisionGraph
from api.service.graph_cache import GraphCache
from api.service.idempotency import Outcome
from api.service.import_check import ImportCheck, ImportProblem
from api.service.integrity import Integrity
from api.service.log_reads import LogReads
from api.service.oplog import OperationLog
from api.service.plans import Plan
from api.service.project_files import shown_name
from api.service.results import Branch, CurrentState, RevisionInfo, RevisionPage

__all__ = ["MigrationService"]


class MigrationService(LogReads, Integrity):
    """Reads and changes the target database's schema version through Alembic."""

    def __init__(
        self,
        migrate,
        engine: Engine,
        directory: str,
        database_url: str,
        version_table: VersionTable = DEFAULT_VERSION_TABLE,
        app_context: Callable[[], AbstractContextManager] | None = None,
        app_root: str | None = None,
        alembic_config: str | None = None,
        engines: Mapping[str, Engine] | None = None,
        ddl_locks: DdlLockPolicy | None = None,
        models_known: bool = True,
        graphs: GraphCache | None = None,
    ):
        """``engines``: bind name -> engine of the application whose Migrate runs env.py
        (``"default"`` is ``engine``); used when the directory migrates each bind.
        ``ddl_locks``: the lock timeout and retries of a write that does not say.
        ``graphs``: a graph cache shared with other services of the same directory (the
        targets of a fleet), so the directory is parsed once, not once per database."""
        self._migrate = migrate
        # The user's application (MIGRATEWAY_APP): its Migrate extension reads current_app,
        # and env.py runs inside its context, as under `flask --app <it> db upgrade`.
        self.app_context = app_context or nullcontext
        self.engine = engine
        multi = engines is not None and len(engines) > 1 and migrates_each_bind(directory)
        others = {k: e for k, e in engines.items() if k != DEFAULT} if multi else {}
        self.binds = Binds({DEFAULT: engine, **others})
        self.directory = directory
        self.database_url = database_url
        self.version_table = version_table
        # Where the project's alembic.ini / pyproject.toml may be (api.service.project_files).
        self.app_root = app_root
        self.alembic_config = alembic_config
        # Whether the models env.py compares with are this directory's (model drift).
        self.models_known = models_known
        self.ddl_locks = ddl_locks or DdlLockPolicy()
        self._imports = ImportCheck()
        self._graphs = graphs or GraphCache()
        self._oplog: OperationLog | None = None
        self._read_config: Config | None = None

    # -- plumbing -------------------------------------------------------------------------

    @property
    def oplog(self) -> OperationLog:
        if self._oplog is None:
            self._oplog = OperationLog(self.engine)
        return self._oplog

    @property
    def transactional_ddl(self) -> bool:
        """Whether a failed revision rolls back whole on this database (PostgreSQL) or may
        leave part of itself applied (MariaDB/MySQL, and SQLite as Alembic drives it)."""
        return self.binds.transactional_ddl()

    def config(self) -> Config:
        """A fresh Alembic Config for one command (it carries that command's output buffer)."""
        with self.app_context():
            return build_config(
                self._migrate, self.directory, self.database_url, self.app_root, self.alembic_config
            )

    def graph(self, config: Config | None = None) -> RevisionGraph:
        """The revision graph; reads reuse one Config (parsing alembic.ini per request cost
        more than the rest of a warm GET /current), shared with every service that shares
        the graph cache."""
        if config is None:
            if self._read_config is None:
                self._read_config = self._graphs.read_config(self.config)
            config = self._read_config
        return self._graphs.get(config)

    def import_problem(self) -> ImportProblem | None:
        """A module that env.py or a revision file imports and this process cannot find
        (nothing is run to tell), named safely for an unauthenticated caller.

        :raises MigrationsUnavailable: the directory does not load at all.
        """
        graph = self.graph()
        config = self._read_config
        roots = config.attributes[ROOTS]
        env_py = os.path.join(config.get_main_option("script_location"), "env.py")
        return self._imports.problem(env_py, graph, lambda path: shown_name(path, roots))

    def database_heads(self) -> tuple[str, ...]:
        """The revisions the database's version table holds (one query once warm).

        :raises DatabaseUnavailable:
        """
        return current_heads(self.engine, self.version_table)

    def bind_heads(self) -> dict[str, tuple[str, ...]]:
        """The revisions each bind's version table holds (the default database alone for a
        single-database directory).

        :raises DatabaseUnavailable:
        """
        if not self.binds.multi:
            return {DEFAULT: self.database_heads()}
        return {
            name: current_heads(engine, self.version_table)
            for name, engine in self.binds.engines.items()
        }

    # -- reads ----------------------------------------------------------------------------

    def history(self, limit: int | None = None, offset: int = 0) -> RevisionPage:
        """The revision graph, newest first, marked with what the database has applied."""
        graph = self.graph()
        applied = graph.applied(self.database_heads())
        window = graph.ordered[offset : None if limit is None else offset + limit]
        items = [graph.marked(info, applied) for info in window]
        return RevisionPage(items=items, total=len(graph.ordered), limit=limit, offset=offset)

    def show(self, rev: str) -> RevisionInfo:
        """One revision by id, unique prefix or symbol.

        :raises UnknownRevision, AmbiguousRevision, MultipleHeads:
        """
        graph = self.graph()
        info = graph.resolve(rev)
        return graph.marked(info, graph.applied(self.database_heads()))

    def current(self) -> CurrentState:
        """Where the database is, where the scripts end, and what an upgrade would apply.

        :raises RevisionConflict: the database is at a revision the directory lacks.
        """
        graph = self.graph()
        if self.binds.multi:
            return self._current_binds(graph)
        current = self.database_heads()
        graph.check_known(current)
        return CurrentState(
            current=current, heads=tuple(sorted(graph.heads)), pending=graph.pending(current)
        )

    def _current_binds(self, graph: RevisionGraph) -> CurrentState:
        """Each bind's state; the top level is the default database's, but up to date only
        when every bind is."""
        heads = tuple(sorted(graph.heads))
        states = {}
        for name, current in self.bind_heads().items():
            with for_bind(name):
                graph.check_known(current)
            states[name] = CurrentState(current, heads, graph.pending(current))
        main = states[DEFAULT]
        return CurrentState(main.current, main.heads, main.pending, binds=states)

    def heads(self) -> list[RevisionInfo]:
        """The head revisions, as ``flask db heads``."""
        graph = self.graph()
        applied = graph.applied(self.database_heads())
        return [graph.marked(graph.by_id[h], applied) for h in sorted(graph.heads)]

    def branches(self) -> list[Branch]:
        """The branch points and the revisions that follow each, as ``flask db branches``."""
        graph = self.graph()
        return [
            Branch(
                revision=info.revision,
                message=info.message,
                next_revisions=tuple(sorted(graph.children(info.revision))),
            )
            for info in graph.ordered
            if info.is_branch_point
        ]

    def drift(self) -> dict:
        """The live schema against the models and against the schema the last operation left
        (api/service/drift.py). :raises DatabaseUnavailable:"""
        return drift.drift(self)

    def plan(self, action: str, target: str | None = None, undo: bool = True) -> Plan:
        """What an upgrade or downgrade to ``target`` would run, step by step, with what each
        step destroys, locks or may fail on, checked against the live data; nothing runs.

        :raises UnknownRevision, AmbiguousRevision, MultipleHeads, RevisionConflict,
            DryRunFailed, DatabaseUnavailable:
        """
        default = "head" if action == "upgrade" else "-1"
        return commands.plan(self, Write(action, target or default), undo)

    # -- writes ---------------------------------------------------------------------------

    def upgrade(
        self,
        target: str = "head",
        sql: bool = False,
        plan_id: str | None = None,
        ctx: CallContext | None = None,
        accept_changed: Sequence[str] = (),
    ) -> Outcome:
        """Upgrade to ``target`` (a revision, ``head``, ``heads``, ``+N``, ``label@head``).

        With ``sql`` the SQL from the database's actual revision to the target is returned
        and nothing runs. A change that destroys data existing now runs only with the
        ``plan_id`` of its plan (:meth:`plan`); one that runs a revision whose file changed
        since it was applied, only when ``accept_changed`` names it.

        :raises Locked, PreconditionFailed, RecoveryRequired, UnknownRevision, MultipleHeads,
            RevisionConflict, IntegrityCheckFailed, MigrationFailed, DatabaseUnavailable:
        """
        write = Write("upgrade", target, sql, plan_id=plan_id, accept_changed=tuple(accept_changed))
        return commands.run(self, write, ctx or CallContext())

    def downgrade(
        self,
        target: str,
        sql: bool = False,
        plan_id: str | None = None,
        ctx: CallContext | None = None,
        accept_changed: Sequence[str] = (),
    ) -> Outcome:
        """Downgrade to ``target`` (a revision, ``-N``, ``base``); see :meth:`upgrade`.

        A relative step from several heads is refused: which branch it walks down is a guess
        (Alembic only warns), and a rollback must never guess.
        """
        write = Write(
            "downgrade", target, sql, plan_id=plan_id, accept_changed=tuple(accept_changed)
        )
        return commands.run(self, write, ctx or CallContext())

    def stamp(
        self,
        target: str,
        purge: bool = False,
        resolves: str | None = None,
        ctx: CallContext | None = None,
    ) -> Outcome:
        """Set the version table to ``target`` without running any migration.

        While an operation that stopped part-way through a revision awaits recovery, a stamp
        must name it in ``resolves``: that records the operator's acknowledgement, and a stamp
        decided before that failure is refused instead of silently clearing it.
        """
        write = Write("stamp", target, purge=purge, resolves=resolves)
        return commands.run(self, write, ctx or CallContext())


def service() -> MigrationService:
    """The service of the current app: DATABASE_URL's, or the named target's under
    ``/targets/<name>/...``.

    :raises UnknownTarget:
    """
    name = current_target()
    if name is None:
        return current_app.extensions["migrateway"]
    return current_app.extensions["migrateway_targets"].service(name)
