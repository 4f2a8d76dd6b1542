"""The risk analyzer on the SQL Alembic really renders, per dialect: what waits or rewrites.
PostgreSQL's locks, scans and rewrites (PG101-306, CONCURRENTLY in a transaction: PG103) and
MySQL's table copies (MY130-131)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from api.service.risk import analyze
from tests.risk_sql import (
    MYSQL,
    collect_garbage,  # noqa: F401 - conftest's collection after each test, replaced: pure cases
    found,
    offline,
)

# (name, dialects, change, expected findings as (code, severity, table, column, loss))
LOCKS = [
    (
        "type change",
        ("postgresql",),
        lambda op: op.alter_column(
            "users", "email", type_=sa.String(200), existing_type=sa.String(50)
        ),
        [("PG301", "warning", "users", "email", None)],
    ),
    (
        "type change",
        MYSQL,
        lambda op: op.alter_column(
            "users", "email", type_=sa.String(200), existing_type=sa.String(50)
        ),
        [("MY130", "warning", "users", "email", None)],
    ),
    (
        "enum values removed",
        MYSQL,
        lambda op: op.alter_column(
            "users", "kind", type_=sa.Enum("a", "b"), existing_type=sa.Enum("a", "b", "c")
        ),
        [("MY130", "warning", "users", "kind", None)],
    ),
    (
        "index",
        ("postgresql",),
        lambda op: op.create_index("ix_users_email", "users", ["email"]),
        [("PG101", "warning", "users", None, None)],
    ),
    (
        "drop index",
        ("postgresql",),
        lambda op: op.drop_index("ix_users_email", table_name="users"),
        [("PG102", "warning", None, None, None)],
    ),
    (
        "primary key",
        ("postgresql",),
        lambda op: op.create_primary_key("pk_users", "users", ["id"]),
        [("PG104", "warning", "users", None, None)],
    ),
    (
        "volatile default",
        ("postgresql",),
        lambda op: op.add_column(
            "users", sa.Column("token", sa.Uuid(), server_default=sa.text("gen_random_uuid()"))
        ),
        [("PG302", "warning", "users", "token", None)],
    ),
    (
        "identity column",
        ("postgresql",),
        lambda op: op.add_column("users", sa.Column("n", sa.Integer(), sa.Identity())),
        [("PG302", "warning", "users", "n", None)],
    ),
    (
        "check",
        ("postgresql",),
        lambda op: op.create_check_constraint("ck_age", "users", "age > 0"),
        [("PG305", "warning", "users", None, None)],
    ),
    (
        "foreign key",
        ("postgresql",),
        lambda op: op.create_foreign_key("fk_posts_user", "posts", "users", ["user_id"], ["id"]),
        [("PG306", "warning", "posts", None, None)],
    ),
    (
        "foreign key",
        MYSQL,
        lambda op: op.create_foreign_key("fk_posts_user", "posts", "users", ["user_id"], ["id"]),
        [("MY131", "warning", "posts", None, None)],
    ),
]


@pytest.mark.parametrize(
    ("dialect", "change", "expected"),
    [
        pytest.param(dialect, change, expected, id=f"{name}-{dialect}")
        for name, dialects, change, expected in LOCKS
        for dialect in dialects
    ],
)
def test_each_code_on_the_sql_alembic_renders(dialect, change, expected):
    assert found(analyze(offline(dialect, change), dialect)) == expected


def _create_concurrently(op):
    op.create_index("ix_users_email", "users", ["email"], postgresql_concurrently=True)


def _drop_concurrently(op):
    op.drop_index("ix_users_email", table_name="users", postgresql_concurrently=True)


def _in_autocommit_block(change):
    def run(op):
        with op.get_context().autocommit_block():
            change(op)

    return run


@pytest.mark.parametrize("change", [_create_concurrently, _drop_concurrently])
def test_an_index_changed_concurrently_inside_the_transaction_fails(change):
    """PostgreSQL refuses CREATE/DROP INDEX CONCURRENTLY in a transaction block: a revision
    that asks for it outside op.get_context().autocommit_block() fails when it runs (PG103)."""
    sql = offline("postgresql", change)
    # Alembic runs each PostgreSQL revision in a transaction: the step starts inside one.
    assert found(analyze(sql, "postgresql", in_transaction=True)) == [
        ("PG103", "error", "users" if change is _create_concurrently else None, None, None)
    ]
    assert found(analyze("BEGIN;\n" + sql, "postgresql")) == found(
        analyze(sql, "postgresql", in_transaction=True)
    )
    assert analyze(sql, "postgresql") == []  # no transaction open: it runs
    # In an autocommit block Alembic commits first, and opens the next transaction after it.
    block = offline("postgresql", _in_autocommit_block(change))
    assert "COMMIT;" in block and analyze(block, "postgresql", in_transaction=True) == []
    # Without CONCURRENTLY it runs, and locks: PG101/PG102. Elsewhere: nothing to say.
    plain = analyze(sql.replace("CONCURRENTLY ", ""), "postgresql", in_transaction=True)
    assert [f.code for f in plain] == ["PG101" if change is _create_concurrently else "PG102"]
    assert analyze(sql, "sqlite", in_transaction=True) == []


def test_a_concurrent_index_on_a_table_the_step_creates_still_fails_in_its_transaction():
    sql = offline(
        "postgresql",
        lambda op: (
            op.create_table(
                "t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("e", sa.Text)
            ),
            op.create_index("ix_t_e", "t", ["e"], postgresql_concurrently=True),
        ),
    )
    assert [f.code for f in analyze(sql, "postgresql", in_transaction=True)] == ["PG103"]
    assert analyze(sql, "postgresql") == []


@pytest.mark.parametrize(
    ("volatile", "rewrites"),
    [
        ("clock_timestamp()", True),
        ("random()", True),
        ("nextval('users_n_seq')", True),
        ("(floor(random() * 10))::integer", True),
        ("uuid_generate_v4()", True),
        # Only stable: PostgreSQL 11+ stores the value once, no rewrite.
        ("now()", False),
        ("CURRENT_TIMESTAMP", False),
        ("statement_timestamp()", False),
        ("'draft'", False),
    ],
)
def test_a_volatile_default_is_told_from_a_stable_one(volatile, rewrites):
    column = sa.Column("c", sa.Text(), server_default=sa.text(volatile))
    sql = offline("postgresql", lambda op: op.add_column("users", column))
    assert [f.code for f in analyze(sql, "postgresql")] == (["PG302"] if rewrites else [])
