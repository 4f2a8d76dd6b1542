"""Throw-away databases on SQLite, PostgreSQL and MariaDB for the test suite.

TEST_DATABASE_URLS lists the servers (comma-separated); each test gets a database of its own
on each. A server that cannot be reached is skipped on a laptop and fails the run under CI=true.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

DEFAULT_SERVERS = (
    "sqlite",
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "mysql+pymysql://root@127.0.0.1:3306/test",
)


def servers() -> dict[str, str]:
    """Backend name -> admin URL of each configured server."""
    raw = os.environ.get("TEST_DATABASE_URLS")
    urls = [u.strip() for u in raw.split(",") if u.strip()] if raw else list(DEFAULT_SERVERS)
    return {("sqlite" if u == "sqlite" else make_url(u).get_backend_name()): u for u in urls}


@cache
def unreachable(admin_url: str) -> str | None:
    """Why the server cannot be used, or None when it can."""
    if admin_url == "sqlite":
        return None
    engine = sa.create_engine(admin_url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return None
    except sa.exc.SQLAlchemyError as exc:
        return str(exc.orig if getattr(exc, "orig", None) else exc).splitlines()[0]
    finally:
        engine.dispose()


@contextmanager
def fresh_database(admin_url: str, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of a new, empty database; drop it afterwards."""
    if admin_url == "sqlite":
        yield f"sqlite:///{tmp_path / 'target.sqlite'}"
        return
    name = f"mw_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if admin.dialect.name == "postgresql":
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
                # The operation log's database beside it (see api/service/oplog/store.py).
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}_migrateway")
        admin.dispose()


def server_port(url: str) -> int:
    """The port a database URL reaches, its driver's default when the URL names none."""
    parsed = make_url(url)
    return parsed.port or {"postgresql": 5432, "mysql": 3306}[parsed.get_backend_name()]


def tables(url: str) -> set[str]:
    """The table names in the database, read directly."""
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def version_rows(url: str, table: str = "alembic_version", schema: str | None = None) -> set[str]:
    """The rows of the version table, read directly; empty when the table is missing."""
    engine = sa.create_engine(url)
    try:
        if table not in sa.inspect(engine).get_table_names(schema=schema):
            return set()
        versions = sa.table(table, sa.column("version_num"), schema=schema)
        with engine.connect() as conn:
            return set(conn.scalars(sa.select(versions.c.version_num)))
    finally:
        engine.dispose()


def operation_log(url: str) -> tuple[sa.URL, str | None]:
    """Where the service keeps ``url``'s operation log (api/service/oplog/store.py): the URL
    to reach it and the schema of its tables (SQLite: a file beside the database, no schema)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(database=f"{parsed.database}.operations.sqlite"), None
    if parsed.get_backend_name() == "postgresql":
        return parsed, "migrateway"
    return parsed, f"{parsed.database}_migrateway"
