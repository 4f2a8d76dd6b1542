"""The SQL Alembic really renders for one revision step, for the risk analyzer's tests: offline
(as ``flask db upgrade --sql`` does) for any dialect, and SQLite's batch copy as it runs."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

Change = Callable[[Operations], object]

# The dialects a case names: every one, and MySQL's two.
ALL = ("postgresql", "mysql", "mariadb", "sqlite")
MYSQL = ("mysql", "mariadb")

# The tables a batch copy's tests start from (SQLite), with the columns each has.
BATCH_TABLES = (
    "CREATE TABLE users (id INTEGER NOT NULL, name VARCHAR, email VARCHAR, PRIMARY KEY (id))",
    "CREATE INDEX ix_users_name ON users (name)",
    "CREATE TABLE posts (id INTEGER NOT NULL PRIMARY KEY, user_id INTEGER)",
)
COLUMNS_BEFORE = {"users": ["id", "name", "email"], "posts": ["id", "user_id"]}


@pytest.fixture(autouse=True)
def collect_garbage():
    """Replaces conftest's collection after each test in a module that imports it: the cases
    on offline SQL are pure (the one engine a batch copy opens is disposed of), and a full
    collection after each of them would be most of their time."""
    yield


def offline(dialect: str, change: Change) -> str:
    """The SQL of ``change`` rendered offline for ``dialect``, as Alembic writes it."""
    buffer = io.StringIO()
    context = MigrationContext.configure(
        dialect_name=dialect, opts={"as_sql": True, "output_buffer": buffer}
    )
    change(Operations(context))
    return buffer.getvalue()


def batch_copy(change: Change, tables: tuple[str, ...] = BATCH_TABLES) -> str:
    """The statements ``change`` executes on a SQLite database holding ``tables``: what a dry
    run on a throw-away copy answers (reads left out), batch mode's copy included."""
    engine = sa.create_engine("sqlite://")
    executed: list[str] = []
    try:
        with engine.begin() as connection:
            for statement in tables:
                connection.exec_driver_sql(statement)
            sa.event.listen(
                connection,
                "before_cursor_execute",
                lambda conn, cursor, statement, *rest: executed.append(statement.strip()),
            )
            change(Operations(MigrationContext.configure(connection)))
    finally:
        engine.dispose()
    return "".join(
        f"{statement};\n"
        for statement in executed
        if not statement.startswith(("PRAGMA", "SELECT"))
    )


def in_batch(op: Operations, table: str, change: Callable, recreate: str = "auto") -> None:
    """``change`` (given the batch operations) in batch mode on ``table``."""
    with op.batch_alter_table(table, recreate=recreate) as batch:
        change(batch)


def not_null_age() -> sa.Column:
    """A new column NOT NULL without a DEFAULT (a new object each time: a Column has one table)."""
    return sa.Column("age", sa.Integer(), nullable=False)


def found(findings) -> list[tuple]:
    """Findings as (code, severity, table, column, loss), the way the tests expect them."""
    return [(f.code, f.severity, f.table, f.column, f.loss) for f in findings]


def version_table_sql() -> str:
    """What Alembic renders around every step on PostgreSQL: the version table, its rows, the
    transaction, the comments naming each step (copied from ``alembic upgrade/downgrade --sql``)."""
    return """BEGIN;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> a1

INSERT INTO alembic_version (version_num) VALUES ('a1') RETURNING alembic_version.version_num;

-- Running upgrade a1 -> b2

UPDATE alembic_version SET version_num='b2' WHERE alembic_version.version_num = 'a1';

-- Running downgrade a1 -> 

DELETE FROM alembic_version WHERE alembic_version.version_num = 'a1';

COMMIT;
"""  # noqa: W291 (Alembic's own trailing spaces)
