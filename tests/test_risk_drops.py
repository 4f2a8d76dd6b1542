"""The risk analyzer on the SQL Alembic really renders, per dialect: what drops data (DS101-103)
and what renames (BC101-102), from Alembic's operations and from hand-written SQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from api.service.risk import analyze
from tests.risk_sql import (
    ALL,
    MYSQL,
    collect_garbage,  # noqa: F401 - conftest's collection after each test, replaced: pure cases
    found,
    offline,
    version_table_sql,
)

# (name, dialects, change, expected findings as (code, severity, table, column, loss))
DROPS = [
    (
        "drop table",
        ALL,
        lambda op: op.drop_table("users"),
        [("DS102", "error", "users", None, "table")],
    ),
    (
        "drop column",
        ALL,
        lambda op: op.drop_column("users", "email"),
        [("DS103", "error", "users", "email", "column")],
    ),
    (
        "drop schema",
        ("postgresql",),
        lambda op: op.execute("DROP SCHEMA app CASCADE"),
        [("DS101", "error", None, None, "schema")],
    ),
    (
        "drop database",
        MYSQL,
        lambda op: op.execute("DROP DATABASE app"),
        [("DS101", "error", None, None, "schema")],
    ),
    (
        "rename table",
        ALL,
        lambda op: op.rename_table("users", "people"),
        [("BC101", "warning", "users", None, None)],
    ),
    (
        "rename column",
        ALL,
        lambda op: op.alter_column(
            "users", "name", new_column_name="full_name", existing_type=sa.String(50)
        ),
        [("BC102", "warning", "users", "name", None)],
    ),
]


@pytest.mark.parametrize(
    ("dialect", "change", "expected"),
    [
        pytest.param(dialect, change, expected, id=f"{name}-{dialect}")
        for name, dialects, change, expected in DROPS
        for dialect in dialects
    ],
)
def test_each_code_on_the_sql_alembic_renders(dialect, change, expected):
    assert found(analyze(offline(dialect, change), dialect)) == expected


def test_a_finding_names_its_statement_schema_and_says_a_sentence():
    sql = version_table_sql().replace(
        "COMMIT;",
        "-- Running downgrade b2 -> a1\n\nALTER TABLE app.users DROP COLUMN email;\n\nCOMMIT;",
    )
    [finding] = analyze(sql, "postgresql")
    assert finding.statement == "ALTER TABLE app.users DROP COLUMN email"
    assert (finding.schema, finding.table, finding.column, finding.loss) == (
        "app",
        "users",
        "email",
        "column",
    )
    assert finding.detail == "Drops column app.users.email and every value in it."


@pytest.mark.parametrize(
    ("dialect", "sql", "table", "column"),
    [
        ("postgresql", 'ALTER TABLE "User" DROP COLUMN "E-mail";', "User", "E-mail"),
        ("mysql", "ALTER TABLE `order` DROP COLUMN `key`;", "order", "key"),
        ("sqlite", 'ALTER TABLE "user" DROP COLUMN "group";', "user", "group"),
    ],
)
def test_quoted_names_come_back_as_they_are(dialect, sql, table, column):
    [finding] = analyze(sql, dialect)
    assert (finding.code, finding.table, finding.column) == ("DS103", table, column)


def test_mysql_rename_table_statement_is_a_rename():
    sql = "RENAME TABLE users TO people, `posts` TO `articles`;"
    assert [(f.code, f.table) for f in analyze(sql, "mariadb")] == [
        ("BC101", "users"),
        ("BC101", "posts"),
    ]


@pytest.mark.parametrize(
    ("dialect", "sql", "expected"),
    [
        (
            "postgresql",
            'DROP SCHEMA IF EXISTS a, "B" CASCADE;',
            [("DS101", "a", None), ("DS101", "B", None)],
        ),
        (
            "postgresql",
            "DROP TABLE IF EXISTS a, app.b CASCADE;",
            [("DS102", None, "a"), ("DS102", "app", "b")],
        ),
        (
            "postgresql",
            "DROP INDEX app.ix_a, ix_b;",
            [("PG102", "app", None), ("PG102", None, None)],
        ),
        ("postgresql", "DROP INDEX CONCURRENTLY IF EXISTS ix_a;", []),
        ("postgresql", "ALTER TABLE app.users RENAME TO people;", [("BC101", "app", "users")]),
        ("mysql", "DROP SCHEMA app;", [("DS101", "app", None)]),
        ("mysql", "ALTER TABLE users ADD INDEX ix (email), ALGORITHM=INPLACE, LOCK=NONE;", []),
        ("mysql", "ALTER TABLE posts DROP FOREIGN KEY fk_posts_user;", []),
    ],
)
def test_hand_written_sql_of_op_execute(dialect, sql, expected):
    assert [(f.code, f.schema, f.table) for f in analyze(sql, dialect)] == expected
