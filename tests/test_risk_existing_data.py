"""The risk analyzer on the SQL Alembic really renders, per dialect: changes that fail on
existing data (MF101-104, MySQL's MY101): a unique index on duplicates, NOT NULL on nulls."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from api.service.risk import analyze
from tests.risk_sql import (
    MYSQL,
    collect_garbage,  # noqa: F401 - conftest's collection after each test, replaced: pure cases
    found,
    not_null_age,
    offline,
)


def unique_again(op):
    """Alembic's autogenerate when an index becomes unique: drop it, create it unique."""
    op.drop_index("ix_users_email", table_name="users")
    op.create_index("ix_users_email", "users", ["email"], unique=True)


# (name, dialects, change, expected findings as (code, severity, table, column, loss))
EXISTING_DATA = [
    (
        "unique index",
        ("mysql", "mariadb", "sqlite"),
        lambda op: op.create_index("ix_users_email", "users", ["email"], unique=True),
        [("MF101", "warning", "users", "email", None)],
    ),
    (
        "unique index",
        ("postgresql",),
        lambda op: op.create_index("ix_users_email", "users", ["email"], unique=True),
        [("MF101", "warning", "users", "email", None), ("PG101", "warning", "users", None, None)],
    ),
    (
        "unique constraint",
        MYSQL,
        lambda op: op.create_unique_constraint("uq_users_email", "users", ["email"]),
        [("MF101", "warning", "users", "email", None)],
    ),
    (
        "unique constraint",
        ("postgresql",),
        lambda op: op.create_unique_constraint("uq_users_email", "users", ["email"]),
        [
            ("MF101", "warning", "users", "email", None),
            ("PG105", "warning", "users", "email", None),
        ],
    ),
    (
        "index made unique",
        ("mysql", "mariadb", "sqlite"),
        unique_again,
        [("MF102", "warning", "users", "email", None)],
    ),
    (
        "index made unique",
        ("postgresql",),
        unique_again,
        [
            ("PG102", "warning", None, None, None),
            ("MF102", "warning", "users", "email", None),
            ("PG101", "warning", "users", None, None),
        ],
    ),
    (
        "add not null",
        ("postgresql", "sqlite"),
        lambda op: op.add_column("users", not_null_age()),
        [("MF103", "warning", "users", "age", None)],
    ),
    (
        "add not null",
        MYSQL,
        lambda op: op.add_column("users", not_null_age()),
        [("MY101", "warning", "users", "age", None)],
    ),
    (
        "set not null",
        ("postgresql",),
        lambda op: op.alter_column("users", "email", nullable=False, existing_type=sa.String(50)),
        [
            ("MF104", "warning", "users", "email", None),
            ("PG303", "warning", "users", "email", None),
        ],
    ),
    (
        "set not null",
        MYSQL,
        lambda op: op.alter_column("users", "email", nullable=False, existing_type=sa.String(50)),
        [
            ("MY130", "warning", "users", "email", None),
            ("MF104", "warning", "users", "email", None),
        ],
    ),
]


@pytest.mark.parametrize(
    ("dialect", "change", "expected"),
    [
        pytest.param(dialect, change, expected, id=f"{name}-{dialect}")
        for name, dialects, change, expected in EXISTING_DATA
        for dialect in dialects
    ],
)
def test_each_code_on_the_sql_alembic_renders(dialect, change, expected):
    assert found(analyze(offline(dialect, change), dialect)) == expected
