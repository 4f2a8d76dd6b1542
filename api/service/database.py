"""Reading the target database's revision without ever writing to it."""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from api import exceptions
from api.service import fast_current


@dataclass(frozen=True)
class VersionTable:
    """Where Alembic keeps the applied revisions: env.py's ``version_table`` and
    ``version_table_schema``. Reads do not run env.py, so the service is told (VERSION_TABLE,
    VERSION_TABLE_SCHEMA) and every write checks that env.py agrees."""

    name: str = "alembic_version"
    schema: str | None = None

    def __str__(self) -> str:
        return self.name if self.schema is None else f"{self.schema}.{self.name}"

    @property
    def configure_args(self) -> dict[str, str]:
        """The ``context.configure()`` options that name this table, where not the default
        (Alembic fills those in alike)."""
        args = {} if self.name == "alembic_version" else {"version_table": self.name}
        if self.schema is not None:
            args["version_table_schema"] = self.schema
        return args


DEFAULT_VERSION_TABLE = VersionTable()  # Alembic's own: alembic_version, default schema


def describe_error(exc: BaseException) -> str:
    """A one-line account of a database error: the driver's message, never the SQL statement,
    its parameters or the connection URL."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    return f"{type(exc).__name__}: {first}"[:500]


@contextmanager
def reachable(engine: Engine) -> Iterator[None]:
    """Turn a failure to reach the database into a 503 problem.

    :raises DatabaseUnavailable:
    """
    try:
        yield
    # The driver's own errors too: a connection taken from the pool raw (the reads' kept one)
    # raises them unwrapped.
    except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as exc:
        raise exceptions.DatabaseUnavailable(
            f"The database {engine.url.render_as_string(hide_password=True)} cannot be reached: "
            f"{describe_error(exc)}"
        ) from exc


def sqlite_file_missing(engine: Engine) -> bool:
    """True for a SQLite URL whose file does not exist yet: connecting would create it."""
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return False
    path = url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return False
    return not os.path.exists(path)


def current_heads(engine: Engine, table: VersionTable) -> tuple[str, ...]:
    """The revisions in the database's version ``table``; empty when it is unversioned.

    Unlike ``alembic current``, this never creates the version table (or the SQLite file).

    :raises DatabaseUnavailable:
    """
    if sqlite_file_missing(engine):
        return ()
    if _versioned.get(engine):  # the fast path (fast_current.py); None: take the plain one
        with reachable(engine):
            rows = fast_current.select_versions(engine, table)
        if rows is not None:
            return rows
    with reachable(engine), engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=table.configure_args)
        heads = context.get_current_heads()
        _versioned[engine] = bool(heads) or context._has_version_table()
        connection.rollback()
    return tuple(sorted(heads))


# Engines whose version table was seen: their reads skip Alembic's reflection. (By engine,
# not URL: hashing a URL costs more than the rest of the lookup.)
_versioned: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()
