"""The risk analyzer on the SQL Alembic really renders: no finding at all on changes that risk
nothing (a false positive fails), what every finding says, and what the analyzer imports.
Each code where it applies: tests/test_risk_drops.py, test_risk_existing_data.py,
test_risk_locks.py."""

from __future__ import annotations

import ast

import pytest
import sqlalchemy as sa

from api.config import PROJECT_ROOT
from api.service.risk import analyze
from tests.risk_sql import (
    ALL,
    collect_garbage,  # noqa: F401 - conftest's collection after each test, replaced: pure cases
    offline,
    version_table_sql,
)
from tests.test_risk_drops import DROPS
from tests.test_risk_existing_data import EXISTING_DATA
from tests.test_risk_locks import LOCKS

# Every risky case of those files, in their order.
RISKY = DROPS + EXISTING_DATA + LOCKS


CLEAN = [
    (
        "create table",
        ALL,
        lambda op: op.create_table(
            "t",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("n", sa.String(5), nullable=False),
        ),
    ),
    ("add nullable column", ALL, lambda op: op.add_column("users", sa.Column("age", sa.Integer()))),
    (
        "add not null with default",
        ALL,
        lambda op: op.add_column(
            "users", sa.Column("age", sa.Integer(), nullable=False, server_default="0")
        ),
    ),
    (
        "index on a new table",
        ALL,
        lambda op: (
            op.create_table(
                "t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("e", sa.String(5))
            ),
            op.create_index("ix_t_e", "t", ["e"], unique=True),
        ),
    ),
    (
        "created then dropped",
        ALL,
        lambda op: (
            op.create_table("t", sa.Column("id", sa.Integer, primary_key=True)),
            op.drop_table("t"),
        ),
    ),
    (
        "index concurrently",
        ("postgresql",),
        lambda op: op.create_index(
            "ix_users_email", "users", ["email"], postgresql_concurrently=True
        ),
    ),
    (
        "drop index concurrently",
        ("postgresql",),
        lambda op: op.drop_index(
            "ix_users_email", table_name="users", postgresql_concurrently=True
        ),
    ),
    (
        "non-unique index",
        ("mysql", "mariadb", "sqlite"),
        lambda op: op.create_index("ix_e", "users", ["email"]),
    ),
    (
        "foreign key not valid",
        ("postgresql",),
        lambda op: op.create_foreign_key(
            "fk_posts_user", "posts", "users", ["user_id"], ["id"], postgresql_not_valid=True
        ),
    ),
    (
        "check not valid",
        ("postgresql",),
        lambda op: op.create_check_constraint(
            "ck_age", "users", "age > 0", postgresql_not_valid=True
        ),
    ),
    (
        "default now()",
        ("postgresql",),
        lambda op: op.add_column(
            "users", sa.Column("created", sa.DateTime(), server_default=sa.func.now())
        ),
    ),
    (
        "a ';' in a string",
        ALL,
        lambda op: op.execute("UPDATE users SET note = 'done; DROP TABLE users' WHERE id = 1"),
    ),
    (
        "constraints on a new table",
        ("postgresql",),
        lambda op: (
            op.create_table("t", sa.Column("id", sa.Integer), sa.Column("u", sa.Integer)),
            op.create_primary_key("pk_t", "t", ["id"]),
            op.create_foreign_key("fk_t_u", "t", "users", ["u"], ["id"]),
            op.add_column("t", sa.Column("n", sa.Integer(), nullable=False)),
        ),
    ),
]


@pytest.mark.parametrize(
    ("dialect", "change"),
    [
        pytest.param(dialect, change, id=f"{name}-{dialect}")
        for name, dialects, change in CLEAN
        for dialect in dialects
    ],
)
def test_clean_changes_have_no_finding(dialect, change):
    assert analyze(offline(dialect, change), dialect) == []


@pytest.mark.parametrize("dialect", ALL)
def test_the_version_table_and_transaction_have_no_finding(dialect):
    assert analyze(version_table_sql(), dialect) == []


def test_every_risky_finding_has_its_statement_and_a_sentence():
    for _, dialects, change, _ in RISKY:
        for dialect in dialects:
            sql = offline(dialect, change)
            for finding in analyze(sql, dialect):
                assert finding.statement and finding.statement + ";" in sql
                assert finding.detail.endswith(".") and finding.detail.count(". ") == 0


def test_sql_the_parser_cannot_read_gives_no_finding_and_no_error():
    assert analyze("ALTER TABLE users ADD COLUMN (((;\nDROP TABLE", "postgresql") == []


def test_the_analyzer_imports_neither_alembic_nor_flask():
    package = PROJECT_ROOT / "api" / "service" / "risk"
    imported = set()
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    assert imported <= {
        "__future__",
        "api",
        "collections",
        "dataclasses",
        "functools",
        "logging",
        "re",
        "sqlglot",
    }
