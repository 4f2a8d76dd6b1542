"""Reading the target database's revision without ever writing to it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from alembic.runtime.migration import MigrationContext
from sqlalchemy import URL, Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from api import exceptions


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
    except SQLAlchemyError as exc:
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


def current_heads(engine: Engine) -> tuple[str, ...]:
    """The revisions in the database's version table; empty when it is unversioned.

    Unlike ``alembic current``, this never creates the version table (or the SQLite file).

    :raises DatabaseUnavailable:
    """
    if sqlite_file_missing(engine):
        return ()
    with reachable(engine), engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # No BEGIN before the SELECT nor ROLLBACK after it: two round trips fewer. (On
            # MySQL switching autocommit would itself cost a round trip each way.)
            connection.execution_options(isolation_level="AUTOCOMMIT")
        if _versioned.get(engine.url):
            # The table was there last time: one query, no reflection. If it has been dropped
            # since, fall back to Alembic's own check below.
            try:
                rows = connection.execute(_SELECT_VERSIONS).scalars().all()
                connection.rollback()
                return tuple(sorted(rows))
            except DBAPIError as exc:
                if exc.connection_invalidated:
                    raise
                connection.rollback()
        context = MigrationContext.configure(connection)
        heads = context.get_current_heads()
        _versioned[engine.url] = bool(heads) or context._has_version_table()
        connection.rollback()
    return tuple(sorted(heads))


# Databases (by URL) whose version table was seen: their reads skip Alembic's reflection.
_versioned: dict[URL, bool] = {}
_SELECT_VERSIONS = text("SELECT version_num FROM alembic_version")
