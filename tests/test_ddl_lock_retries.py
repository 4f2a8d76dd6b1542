"""DDL lock timeouts: a revision stuck behind another session's lock gives up, is retried from
where the database is, and fails cleanly when the lock never frees."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

from api import create_app, db
from api.logs import JsonFormatter
from tests.databases import version_rows
from tests.ddl_locks import (
    ACCOUNTS,
    ADD_NOTE,
    ALTER,
    INDEX,
    accounts_then_note,
    columns,
    held_lock,
    release_after_first_retry,
)
from tests.revision_graph import alembic_init
from tests.test_failures import assert_problem
from tests.tokens import authorized


@pytest.fixture
def migrations(tmp_path):
    """accounts (with rows, a name twice), then a revision that alters it."""
    return accounts_then_note(tmp_path / "migrations")


def test_a_revision_that_timed_out_is_retried_once_the_lock_is_free(
    client, app, database_url, network_only, caplog
):
    assert client.post("/upgrade", json={"target": ACCOUNTS}).status_code == 200
    with held_lock(database_url) as release:
        watcher = release_after_first_retry(app, release)
        r = client.post("/upgrade", json={"ddl_lock_timeout": 0.2, "ddl_lock_retries": 3})
        watcher.join()
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert [s["revision"] for s in body["applied"]] == [ALTER]
    (retry,) = body["retries"]
    assert retry["revision"] == ALTER and retry["attempt"] == 1
    assert "lock" in retry["error"].lower() and retry["waited_ms"] >= 150
    assert version_rows(database_url) == {ALTER} and "note" in columns(database_url)
    op = client.get(f"/operations/{body['operation_id']}").get_json()
    assert op["status"] == "succeeded" and op["retries"] == body["retries"]
    # And the service's log, a line as each retry begins its wait.
    (line,) = [r for r in caplog.records if getattr(r, "event", None) == "lock_retry"]
    assert (line.revision, line.attempt, line.operation_id) == (ALTER, 1, body["operation_id"])
    assert line.levelname == "WARNING" and f"revision {ALTER}" in line.getMessage()
    shown = json.loads(JsonFormatter().format(line))
    assert {k: shown[k] for k in retry} == retry


def test_a_lock_never_freed_fails_cleanly_once_the_retries_are_spent(
    client, app, database_url, network_only
):
    assert client.post("/upgrade", json={"target": ACCOUNTS}).status_code == 200
    start = time.monotonic()
    with held_lock(database_url):
        r = client.post("/upgrade", json={"ddl_lock_timeout": 0.2, "ddl_lock_retries": 1})
    problem = assert_problem(r, 422, "migration-failed")
    assert time.monotonic() - start < 10
    assert problem["failed_revision"] == ALTER and problem["lock_timeout"] is True
    assert problem["attempts"] == 2 and len(problem["retries"]) == 1
    assert "lock timeout" in problem["detail"] and "2 attempts" in problem["detail"]
    assert problem["partial_possible"] is False and problem["current"] == [ACCOUNTS]
    # Nothing of the revision stayed, and nothing awaits recovery.
    assert version_rows(database_url) == {ACCOUNTS} and "note" not in columns(database_url)
    op = client.get(f"/operations/{problem['operation_id']}").get_json()
    assert op["status"] == "failed" and op["partial_possible"] is False
    assert [r["attempt"] for r in op["retries"]] == [1]
    assert client.post("/upgrade").status_code == 200


def test_a_downgrade_is_retried_too(client, app, database_url, postgresql_only):
    assert client.post("/upgrade").status_code == 200
    with held_lock(database_url) as release:
        watcher = release_after_first_retry(app, release)
        r = client.post("/downgrade", json={"target": "-1", "ddl_lock_timeout": 0.2})
        watcher.join()
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert [s["revision"] for s in body["reverted"]] == [ALTER]
    assert [(x["revision"], x["attempt"]) for x in body["retries"]] == [(ALTER, 1)]
    assert version_rows(database_url) == {ACCOUNTS} and "note" not in columns(database_url)


def test_the_settings_give_the_default_timeout(migrations, database_url, postgresql_only):
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "MIGRATIONS_DIR": str(migrations.path),
            "DDL_LOCK_TIMEOUT": 0.2,
            "DDL_LOCK_RETRIES": 0,
        }
    )
    client = authorized(app.test_client())
    try:
        assert client.post("/upgrade", json={"target": ACCOUNTS}).status_code == 200
        with held_lock(database_url):
            problem = assert_problem(client.post("/upgrade"), 422, "migration-failed")
        assert problem["attempts"] == 1 and "retries" not in problem
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_chain_in_one_transaction_is_retried_from_where_the_database_is(
    tmp_path, database_url, postgresql_only
):
    """`alembic init -t generic` runs the whole chain in one transaction: the timeout in its
    second revision rolls back the first too, and the retry starts again from the first."""
    migrations = alembic_init(tmp_path / "project")
    migrations.add("0001", None, message="create t")
    migrations.add("0002", "0001", message="note", upgrade=ADD_NOTE)
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE accounts (id integer primary key)")
    engine.dispose()
    app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
    client = authorized(app.test_client())
    try:
        with held_lock(database_url) as release:
            watcher = release_after_first_retry(app, release)
            r = client.post("/upgrade", json={"ddl_lock_timeout": 0.2})
            watcher.join()
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        assert [s["revision"] for s in body["applied"]] == ["0001", "0002"]
        assert [(x["revision"], x["attempt"]) for x in body["retries"]] == [("0002", 1)]
        assert version_rows(database_url) == {"0002"} and "note" in columns(database_url)
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_revision_that_changed_something_first_is_retried_only_where_that_rolled_back(
    client, app, migrations, database_url, network_only
):
    """PostgreSQL rolls the revision back whole, so it is retried; on MariaDB its first
    statement (a CREATE TABLE) committed, so it is not: the answer says part of it ran."""
    migrations.add(
        INDEX,
        ALTER,
        message="ledger, then a column on accounts",
        upgrade="op.create_table('ledger', sa.Column('id', sa.Integer, primary_key=True))\n"
        "op.add_column('accounts', sa.Column('tier', sa.Integer))",
    )
    assert client.post("/upgrade", json={"target": ALTER}).status_code == 200
    with held_lock(database_url) as release:
        watcher = release_after_first_retry(app, release)
        r = client.post("/upgrade", json={"ddl_lock_timeout": 0.2, "ddl_lock_retries": 2})
        release.set()
        watcher.join()
    if app.extensions["migrateway"].transactional_ddl:
        assert r.status_code == 200, r.get_json()
        assert [x["revision"] for x in r.get_json()["retries"]] == [INDEX]
        assert version_rows(database_url) == {INDEX}
        return
    problem = assert_problem(r, 422, "migration-failed")
    assert problem["attempts"] == 1 and "retries" not in problem
    assert "not retried: part of that revision may have stayed applied" in problem["detail"]
    assert problem["partial_possible"] is True and version_rows(database_url) == {ALTER}
