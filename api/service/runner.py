"""Running revision steps through env.py, timing each one and noting where a failure struck."""

from __future__ import annotations

import builtins
import io
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event

from api.service.alembic_env import preserved_logging
from api.service.binds import DEFAULT, Binds
from api.service.database import DEFAULT_VERSION_TABLE, VersionTable
from api.service.results import StepResult
from api.service.step_digests import StepDigests

log = logging.getLogger(__name__)

# alembic.context is process-global: two env.py runs in one process would share it.
_ENV_LOCK = threading.Lock()


def elapsed_ms(start: float) -> float:
    """Milliseconds since ``start`` (a time.perf_counter() reading)."""
    return round((time.perf_counter() - start) * 1000, 3)


@dataclass
class StepTimer:
    """Wraps the steps Alembic will run; the generator resumes only after a step has run and
    its transaction has committed, so ``done`` holds exactly the committed steps."""

    operation_id: str | None = None
    verb: str = "ran"
    # Called with (steps done, revision now running) as each step starts.
    on_step: Callable[[int, str], None] | None = None
    # Called before each step and each commit; raises to stop the chain (a lost lock).
    guard: Callable[[], None] | None = None
    done: list[StepResult] = field(default_factory=list)
    running: StepResult | None = None
    # Alembic's step object of the running step (its direction: ``is_upgrade``).
    step: object | None = None
    # The version table's rows after each bind's last step, as Alembic keeps them (a dry
    # run's "to").
    heads: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The bind env.py configured last (several databases run one after the other), and the
    # steps of each: one revision runs once per bind, and each run is that bind's step.
    bind: str | None = None
    by_bind: dict[str, list[StepResult]] = field(default_factory=dict)
    # A dry run's SQL, by bind.
    sql: dict[str, io.StringIO] = field(default_factory=dict)
    # A plan renders every step before a write runs it: one log line per step is the write's.
    log_steps: bool = True
    # Revisions that committed work while they ran (an autocommit_block(), DDL where it is not
    # transactional, a revision's own final commit), as api/service/ddl_timeouts.py watches
    # them: a failed revision found here left part of its work in the database.
    committed_within: set[str] = field(default_factory=set)
    # An upgrade's: the digest of the SQL each step executes (api/service/step_digests.py).
    digests: StepDigests | None = None
    _proven: bool = False

    def forget_after_failure(self, kept: list[StepResult]) -> None:
        """Before a failed run is tried again: the steps done are those the database still
        holds (``kept``); the rest rolled back with the failure and will run again."""
        self.done = list(kept)
        self.by_bind = {DEFAULT: list(kept)} if kept else {}
        self.running = None
        self.committed_within.clear()
        self._proven = False
        if self.digests is not None:
            self.digests.end()

    def checkpoint(self, commit: bool) -> None:
        """Run the guard before a step or a commit, once per gap between two steps: the
        commit of a revision's own transaction comes right before the next step, with nothing
        to prove again in between (one query per revision instead of two; benchmark 3)."""
        if self.guard is None:
            return
        if not commit and self._proven:
            self._proven = False
            return
        self.guard()
        self._proven = commit

    def wrap(self, steps: Iterable) -> Iterator:
        for step in steps:
            self.checkpoint(commit=False)
            script = getattr(step, "revision", None)
            self.step = step
            self.running = StepResult(
                revision=script.revision if script is not None else str(step),
                message=script.doc if script is not None else None,
                duration_ms=0.0,
            )
            if self.on_step is not None:
                self.on_step(len(self.done), self.running.revision)
            if self.digests is not None:
                self.digests.begin(self.bind or DEFAULT, self.running.revision)
            start = time.perf_counter()
            yield step
            if self.digests is not None:
                self.digests.end()
            done = StepResult(self.running.revision, self.running.message, elapsed_ms(start))
            self.done.append(done)
            self.by_bind.setdefault(self.bind or DEFAULT, []).append(done)
            self.running = None
            if not self.log_steps:
                continue
            log.info(
                "%s revision %s in %.1f ms",
                self.verb,
                done.revision,
                done.duration_ms,
                extra={
                    "event": "revision",
                    "revision": done.revision,
                    "duration_ms": done.duration_ms,
                    "operation_id": self.operation_id,
                    **({"bind": self.bind} if self.bind else {}),
                },
            )


class VersionTableMismatch(Exception):
    """env.py configures a version table other than the one the service reads."""


def _on_configure(
    env: EnvironmentContext,
    expected: VersionTable,
    bind: Callable[[Connection], None] | None,
    timer: StepTimer,
    binds: Binds | None,
    starting: Mapping[str, tuple[str, ...]] | None,
) -> None:
    """Make env.py's ``context.configure()`` check the version table it sets against the one
    the service reads, before Alembic creates that table or runs a step: were they different,
    every answer about the database's revision would be wrong. Then ``bind`` the connection
    the migration runs on, and run the timer's guard at each commit it makes where DDL is
    transactional (a refused commit there undoes the revisions it would have committed).

    A multi-database env.py calls it once per database: which bind each call is, the timer
    learns from its connection or URL. A dry run's SQL goes to a buffer per bind (whatever
    env.py gave as output_buffer), starting from that bind's ``starting`` revisions. (On the
    instance: alembic.context proxies EnvironmentContext itself, not a subclass.)"""
    configure = env.configure

    def after_step(*, heads, **_kwargs) -> None:
        timer.heads[timer.bind or DEFAULT] = tuple(sorted(heads))

    def checked(*args, **kwargs) -> None:
        if binds is not None and binds.multi:
            connection = kwargs.get("connection", args[0] if args else None)
            url = kwargs.get("url", args[1] if len(args) > 1 else None)
            timer.bind = binds.name_of(connection, url)
        if env.is_offline_mode() and starting is not None:
            name = timer.bind or DEFAULT
            kwargs["output_buffer"] = timer.sql.setdefault(name, io.StringIO())
            kwargs["starting_rev"] = tuple(starting.get(name, ())) or "base"
        # Alembic tells these callbacks the version table's rows after each step, offline too.
        own = kwargs.get("on_version_apply") or ()
        kwargs["on_version_apply"] = (*((own,) if callable(own) else own), after_step)
        configure(*args, **kwargs)
        context = env.get_context()
        used = VersionTable(context.version_table, context.version_table_schema)
        if used != expected:
            raise VersionTableMismatch(
                f"env.py keeps the revisions in table '{used}', but this service reads "
                f"'{expected}'. Set VERSION_TABLE (and VERSION_TABLE_SCHEMA) to match env.py."
            )
        connection = context.connection
        if connection is None or context.as_sql:
            return
        if bind is not None:
            bind(connection)
        if timer.digests is not None:
            timer.digests.watch(connection, timer.bind or DEFAULT, used)
        if timer.guard is not None and context.impl.transactional_ddl:
            event.listen(connection, "commit", lambda _connection: timer.checkpoint(commit=True))

    env.configure = checked


@contextmanager
def _no_file_writes() -> Iterator[None]:
    """While a dry run's env.py runs, what this thread opens to write stays in memory.

    Both multi-database templates write each database's SQL to "<name>.sql" in the working
    directory (Alchemical's from its own module, not env.py); the service takes the SQL from
    the buffers it gives configure() and must leave no file behind. Other threads keep the
    real ``open``: they only pass through this wrapper while a dry run lasts (os.chdir to a
    scratch directory instead would move every thread's relative paths, SQLite URLs too).
    """
    real, thread = builtins.open, threading.get_ident()

    def guarded(file, mode="r", *args, **kwargs):
        if threading.get_ident() == thread and any(flag in str(mode) for flag in "wax+"):
            return io.BytesIO() if "b" in str(mode) else io.StringIO()
        return real(file, mode, *args, **kwargs)

    builtins.open = guarded  # under _ENV_LOCK: one dry run at a time
    try:
        yield
    finally:
        builtins.open = real


class StepsFailed(Exception):
    """A step raised; carries what committed before it and which step failed."""

    def __init__(self, timer: StepTimer, error: BaseException):
        super().__init__(str(error))
        self.timer = timer
        self.error = error


def run_env(
    config: Config,
    script: ScriptDirectory,
    plan: Callable[[tuple[str, ...]], Iterable],
    *,
    as_sql: bool = False,
    starting_rev: Mapping[str, tuple[str, ...]] | None = None,
    destination_rev: str | None = None,
    purge: bool = False,
    version_table: VersionTable = DEFAULT_VERSION_TABLE,
    timer: StepTimer | None = None,
    bind: Callable[[Connection], None] | None = None,
    binds: Binds | None = None,
) -> StepTimer:
    """Run env.py with ``plan(current_heads)`` as the work, the way ``alembic.command`` does.

    ``bind`` is called with each connection env.py migrates on, before any step runs on it.
    ``binds`` tells the databases of a multi-database env.py apart. A dry run renders each
    bind from its ``starting_rev`` into ``timer.sql`` and writes no file.

    :raises StepsFailed: env.py or a revision raised, or env.py keeps its revisions somewhere
        other than ``version_table`` (then nothing has run), or the timer's guard stopped it.
    """
    timer = timer or StepTimer()

    def work(rev, context):
        return timer.wrap(plan(tuple(rev)))

    with _ENV_LOCK, preserved_logging():
        try:
            env = EnvironmentContext(
                config,
                script,
                fn=work,
                as_sql=as_sql,
                destination_rev=destination_rev,
                purge=purge,
            )
            _on_configure(env, version_table, bind, timer, binds, starting_rev if as_sql else None)
            with env, _no_file_writes() if as_sql else nullcontext():
                script.run_env()
        except Exception as exc:
            raise StepsFailed(timer, exc) from exc
    return timer
