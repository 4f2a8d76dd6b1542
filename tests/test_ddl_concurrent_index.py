"""CREATE INDEX CONCURRENTLY in an autocommit block, with a DDL lock timeout: it runs under the
service's lock, and a build that fails leaves an INVALID index, named in the problem."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.databases import version_rows
from tests.ddl_locks import ALTER, INDEX, accounts_then_note
from tests.test_failures import assert_problem


@pytest.fixture
def migrations(tmp_path):
    """accounts (with rows, a name twice), then a revision that alters it."""
    return accounts_then_note(tmp_path / "migrations")


def test_create_index_concurrently_runs_under_the_service_lock(
    client, migrations, database_url, postgresql_only
):
    migrations.add(
        INDEX,
        ALTER,
        message="index names",
        upgrade="with op.get_context().autocommit_block():\n"
        "    op.create_index('ix_accounts_name', 'accounts', ['name'], "
        "postgresql_concurrently=True)",
    )
    r = client.post("/upgrade", json={"ddl_lock_timeout": 5})
    assert r.status_code == 200, r.get_json()
    assert version_rows(database_url) == {INDEX}
    assert invalid_indexes(database_url) == set()


def test_a_concurrent_index_left_invalid_is_named(
    client, migrations, database_url, postgresql_only
):
    migrations.add(
        INDEX,
        ALTER,
        message="unique names",
        upgrade="with op.get_context().autocommit_block():\n"
        "    op.create_index('ux_accounts_name', 'accounts', ['name'], unique=True, "
        "postgresql_concurrently=True)",
    )
    problem = assert_problem(client.post("/upgrade"), 422, "migration-failed")
    assert problem["failed_revision"] == INDEX and "lock_timeout" not in problem
    assert problem["invalid_indexes"] == [
        {"schema": "public", "index": "ux_accounts_name", "table": "accounts"}
    ]
    assert "INVALID index ux_accounts_name on accounts" in problem["detail"]
    # The index was committed before its build failed: part of the revision stayed.
    assert problem["partial_possible"] is True and "autocommit block" in problem["detail"]
    assert invalid_indexes(database_url) == {"ux_accounts_name"}
    assert version_rows(database_url) == {ALTER}


def invalid_indexes(database_url: str) -> set[str]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return set(
                conn.scalars(
                    sa.text(
                        "SELECT c.relname FROM pg_index i JOIN pg_class c "
                        "ON c.oid = i.indexrelid WHERE NOT i.indisvalid"
                    )
                )
            )
    finally:
        engine.dispose()
