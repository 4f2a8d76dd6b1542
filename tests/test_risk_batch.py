"""The risk analyzer on Alembic's batch mode as it runs on SQLite (copy, drop, rename): what
the copy leaves out is lost, not the table it drops."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from api.service.risk import analyze
from tests.risk_sql import COLUMNS_BEFORE, batch_copy, found, in_batch, not_null_age


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            lambda op: in_batch(op, "users", lambda b: b.drop_column("email")),
            [("DS103", "error", "users", "email", "column")],
            id="column left out",
        ),
        pytest.param(
            lambda op: in_batch(
                op, "users", lambda b: b.alter_column("email", new_column_name="mail")
            ),
            [("BC102", "warning", "users", "email", None)],
            id="column renamed",
        ),
        pytest.param(
            lambda op: in_batch(op, "users", lambda b: b.add_column(not_null_age()), "always"),
            [("MF103", "warning", "users", "age", None)],
            id="not null added",
        ),
        pytest.param(
            lambda op: in_batch(
                op,
                "users",
                lambda b: (
                    b.drop_index("ix_users_name"),
                    b.create_index("ix_users_name", ["name"], unique=True),
                ),
            ),
            [("MF102", "warning", "users", "name", None)],
            id="index made unique",
        ),
    ],
)
def test_sqlite_batch_copy_loses_columns_not_the_table(change, expected):
    assert found(analyze(batch_copy(change), "sqlite", COLUMNS_BEFORE.get)) == expected


def test_a_batch_copy_without_the_columns_before_reports_nothing_lost():
    sql = batch_copy(lambda op: in_batch(op, "users", lambda b: b.drop_column("email")))
    assert "DROP TABLE users" in sql and "_alembic_tmp_users" in sql
    assert analyze(sql, "sqlite") == []
    assert analyze(sql, "sqlite", lambda table: None) == []


def test_a_batch_copy_keeping_every_column_has_no_finding():
    sql = batch_copy(
        lambda op: in_batch(
            op, "users", lambda b: b.add_column(sa.Column("age", sa.Integer())), "always"
        )
    )
    assert "DROP TABLE users" in sql
    assert analyze(sql, "sqlite", COLUMNS_BEFORE.get) == []


def test_the_batch_copy_finding_names_the_copy():
    sql = batch_copy(lambda op: in_batch(op, "users", lambda b: b.drop_column("email")))
    [finding] = analyze(sql, "sqlite", COLUMNS_BEFORE.get)
    assert finding.statement.startswith("INSERT INTO _alembic_tmp_users (id, name) SELECT")
    assert finding.detail == (
        "Rebuilds table users without its column email (a batch copy of the table): "
        "every value in it is lost."
    )


def test_a_real_drop_after_a_batch_copy_is_still_a_loss():
    def copy_then_drop(op):
        in_batch(op, "users", lambda b: b.add_column(sa.Column("age", sa.Integer())), "always")
        op.drop_table("users")

    assert found(analyze(batch_copy(copy_then_drop), "sqlite", COLUMNS_BEFORE.get)) == [
        ("DS102", "error", "users", None, "table")
    ]


def test_a_batch_copy_of_a_table_with_a_reserved_name_and_quoted_columns():
    table = 'CREATE TABLE "user" (id INTEGER NOT NULL PRIMARY KEY, "Name" VARCHAR, "group" VARCHAR)'
    sql = batch_copy(lambda op: in_batch(op, "user", lambda b: b.drop_column("group")), (table,))
    columns = {"user": ["id", "Name", "group"]}
    assert found(analyze(sql, "sqlite", columns.get)) == [
        ("DS103", "error", "user", "group", "column")
    ]
