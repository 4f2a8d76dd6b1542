"""Fresh target databases for the benchmarks: SQLite files and throw-away PostgreSQL databases."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
_names = itertools.count(1)


def sqlite_url(directory: Path) -> str:
    """A new SQLite file path that does not exist yet (a fresh database)."""
    return f"sqlite:///{directory / f'target-{next(_names)}.sqlite'}"


def postgres_reachable() -> bool:
    engine = sa.create_engine(f"{PG_SERVER}/postgres", connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return True
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped on the way out, whatever still uses it."""
    name = f"migrateway_bench_{os.getpid()}_{next(_names)}"
    admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield f"{PG_SERVER}/{name}"
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@contextmanager
def target(kind: str, scratch: Path) -> Iterator[str]:
    """A fresh database URL of ``kind`` (sqlite or postgresql)."""
    if kind == "sqlite":
        yield sqlite_url(scratch)
    else:
        with postgres_database() as url:
            yield url


def stamp(url: str, heads: list[str]) -> None:
    """Write Alembic's version table as if the database were at ``heads`` (no migration runs)."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"
            )
            for head in heads:
                conn.execute(sa.text("INSERT INTO alembic_version VALUES (:v)"), {"v": head})
    finally:
        engine.dispose()


def version(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(
                r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")
            )
    finally:
        engine.dispose()
