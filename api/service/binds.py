"""The databases of a multi-database application: Flask-SQLAlchemy binds, Alchemical engines.

Flask-Migrate's multidb env.py (``flask db init --multidb``) and Alchemical's template run one
``context.configure()`` and ``run_migrations(engine_name=...)`` per database, each with a
version table of its own, and every revision's ``upgrade(engine_name)`` dispatches to an
``upgrade_<bind>()``. The service therefore reads, locks and reports each database on its own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from alembic.ddl.impl import DefaultImpl
from sqlalchemy import URL, Connection, Engine, make_url

from api.service.lock import HeldLock, migration_lock

DEFAULT = "default"  # Flask-SQLAlchemy's None key, the templates' engine_name ""


def bind_engines(db) -> dict[str, Engine]:
    """Bind name -> engine of a Flask-SQLAlchemy ``db`` (in its app's context), the default
    database first under ``"default"``."""
    engines = db.engines
    return {DEFAULT: engines[None], **{k: e for k, e in engines.items() if k is not None}}


def migrates_each_bind(directory: str | os.PathLike) -> bool:
    """Whether the migrations directory was made for several databases: its revisions take
    ``engine_name`` (both multi-database templates write that into script.py.mako). A
    single-database directory in an application that happens to have binds migrates the
    default database alone, as ``flask db upgrade`` does there."""
    mako = Path(directory) / "script.py.mako"
    try:
        return "engine_name" in mako.read_text()
    except OSError:
        return False


def database_key(url: URL | str) -> tuple:
    """What names one database whoever's engine reaches it (Alchemical's template connects with
    engines of its own): backend, host, port and database, a SQLite path made absolute."""
    url = make_url(url)
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database and database != ":memory:":
        database = os.path.abspath(database)
    return (url.get_backend_name(), url.host or "", url.port or 0, database)


class Binds:
    """The databases one migration run covers, by bind name, the default one first."""

    def __init__(self, engines: Mapping[str, Engine]):
        self.engines = dict(engines)
        self.default = self.engines[DEFAULT]
        self._by_key = {database_key(e.url): name for name, e in reversed(self.engines.items())}

    @property
    def multi(self) -> bool:
        return len(self.engines) > 1

    def transactional_ddl(self, name: str | None = None) -> bool:
        """Whether a failed revision rolls back whole on bind ``name``'s database (PostgreSQL)
        or may leave part of itself applied (MariaDB/MySQL, and SQLite as Alembic drives it);
        None, or a bind the service does not migrate: the default database."""
        engine = self.engines.get(name or DEFAULT, self.default)
        return DefaultImpl.get_by_dialect(engine.dialect).transactional_ddl

    def name_of(self, connection: Connection | None = None, url: URL | str | None = None) -> str:
        """The bind a ``context.configure()`` call migrates, from its connection or its URL.

        :raises LookupError: a database the service was not told about.
        """
        if not self.multi:
            return DEFAULT
        if connection is not None:
            url = connection.engine.url
        key = database_key(url) if url is not None else None
        if key not in self._by_key:
            raise LookupError(
                "env.py migrates a database that is none of the application's binds "
                f"({', '.join(self.engines)})"
            )
        return self._by_key[key]

    def lock_order(self) -> list[tuple[tuple, Engine]]:
        """Each distinct database once, in an order every server agrees on, so that two
        servers taking their locks one by one cannot each hold one the other waits for."""
        distinct = {database_key(e.url): e for e in reversed(self.engines.values())}
        return sorted(distinct.items(), key=lambda item: item[0])


class HeldLocks(HeldLock):
    """The migration lock of every database of a run; binds sharing a database share it."""

    def __init__(self, binds: Binds, held: dict[tuple, HeldLock]):
        self._binds, self._held = binds, held

    def verify(self) -> None:
        for lock in self._held.values():
            lock.verify()

    def bind(self, connection: Connection) -> None:
        name = self._binds.name_of(connection)
        self._held[database_key(self._binds.engines[name].url)].bind(connection)


@contextmanager
def migration_locks(binds: Binds, timeout: float) -> Iterator[HeldLock]:
    """Hold the migration lock of every database, waiting ``timeout`` seconds for all of them.

    :raises LockTimeout:
    """
    if not binds.multi:
        with migration_lock(binds.default, timeout) as held:
            yield held
        return
    deadline = time.monotonic() + timeout
    with ExitStack() as stack:
        held = {
            key: stack.enter_context(migration_lock(engine, max(0.0, deadline - time.monotonic())))
            for key, engine in binds.lock_order()
        }
        yield HeldLocks(binds, held)
