"""GET /targets over PostgreSQL tenant schemas: read in batches on one connection without
making their services, with the same rows the services give, and no lock held or waited on."""

from __future__ import annotations

import json
import threading
import time

import pytest
import sqlalchemy as sa

from api import create_app, db
from tests.revision_graph import ALL, SECOND, TIP
from tests.test_targets_matrix_reads import service_row
from tests.tokens import authorized

# Every state a tenant schema can be in, as GET /targets must tell it.
STATES = ("migrated", "behind", "unversioned", "unknown", "crashed", "atbase")


def _execute(url: str, *statements: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def _stamp(schema: str, revision: str) -> list[str]:
    return [
        f"CREATE TABLE {schema}.alembic_version (version_num VARCHAR(32) PRIMARY KEY)",
        f"INSERT INTO {schema}.alembic_version VALUES ('{revision}')",
    ]


@pytest.fixture
def make_app(migrations, database_url, postgresql_only, tmp_path):
    made = []

    def make(**config):
        targets = [
            {"name": "missing", "url": database_url, "schema": "tenant_missing"},
            {"url": database_url, "schemas": "tenant\\_%"},
        ]
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp_path / 'main.sqlite'}",
                "MIGRATIONS_DIR": str(migrations.path),
                "MIGRATEWAY_TARGETS": json.dumps(targets),
                **config,
            }
        )
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["migrateway_targets"].dispose()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def tenants(make_app, database_url):
    """A tenant schema in each of STATES (tenant_<state>), the migrated ones by real calls."""
    _execute(database_url, ";".join(f"CREATE SCHEMA tenant_{s}" for s in STATES))
    writer = authorized(make_app().test_client())
    for name in ("tenant_migrated", "tenant_crashed", "tenant_atbase"):
        assert writer.post(f"/targets/{name}/upgrade", json={}).status_code == 200
    for name, target in (("tenant_migrated", SECOND), ("tenant_atbase", "base")):
        r = writer.post(f"/targets/{name}/downgrade", json={"target": target})
        assert r.status_code == 200, r.get_json()
    _execute(
        database_url,
        *_stamp("tenant_behind", SECOND),
        *_stamp("tenant_unknown", "feedfacecafe"),
        # As a process killed mid-upgrade leaves its record: running, and its lock free.
        "UPDATE migrateway_tenant_crashed.operations SET status = 'running', finished_at = NULL",
    )
    return ["missing", *sorted(f"tenant_{s}" for s in STATES)]


def test_rows_are_those_the_tenants_services_answer(make_app, tenants, database_url):
    app = make_app()  # a process that has made no service: every row read in batches
    client = authorized(app.test_client())
    fleet = app.extensions["migrateway_targets"]
    rows = {r["name"]: r for r in client.get("/targets").get_json()["items"]}
    assert list(rows) == tenants
    # Only the tenant whose log holds a 'running' operation was asked of its service.
    assert [n for n in tenants if fleet.has_service(n)] == ["tenant_crashed"]
    assert rows["tenant_crashed"]["last_operation"]["status"] == "interrupted"

    for name in tenants:  # what a single target's calls answer, through its service
        current = client.get(f"/targets/{name}/current")
        if name == "tenant_unknown":
            assert current.get_json()["type"].endswith(":revision-conflict")
            assert rows[name]["reachable"] and rows[name]["problem"] == "revision-conflict"
            continue
        assert rows[name] == service_row(client, name, current.get_json()), name
    assert rows["tenant_migrated"]["last_operation"]["kind"] == "downgrade"
    assert rows["tenant_behind"]["pending"] == len(ALL) - 2
    assert rows["tenant_atbase"]["current"] == [] and rows["tenant_atbase"]["last_operation"]
    assert rows["tenant_crashed"]["current"] == [TIP]
    assert rows["missing"]["current"] == [] and rows["missing"]["last_operation"] is None
    assert rows["tenant_unversioned"]["current"] == []
    tables = sa.text("SELECT count(*) FROM pg_namespace WHERE nspname LIKE '%missing%'")
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(tables) == 0  # reads created nothing
    finally:
        engine.dispose()


def test_a_locked_tenant_neither_holds_the_page_nor_is_waited_on(make_app, tenants, database_url):
    # A migration holding an exclusive lock on one tenant's version table (a DDL on it).
    engine = sa.create_engine(database_url)
    locker = engine.connect()
    try:
        locker.exec_driver_sql("LOCK TABLE tenant_behind.alembic_version IN ACCESS EXCLUSIVE MODE")
        app = make_app(TARGET_READ_TIMEOUT=3.0)
        client = authorized(app.test_client())
        started = time.monotonic()
        rows = {r["name"]: r for r in client.get("/targets").get_json()["items"]}
        spent = time.monotonic() - started
        # Its row is given up after its timeout (its service still waits, in its own thread);
        # every other tenant's is read in its batch's retry, one by one. The batched reads
        # gave up on the lock at once: waiting for it up to the statement timeout, the batch
        # and its retry would have taken 6 s more.
        assert spent < 6, spent
        assert rows["tenant_behind"]["reachable"] is False
        assert rows["tenant_migrated"]["current"] == [SECOND]
        assert all(rows[n]["reachable"] for n in tenants if n != "tenant_behind")
        fleet = app.extensions["migrateway_targets"]
        made = [n for n in tenants if fleet.has_service(n)]
        assert made == ["tenant_behind", "tenant_crashed"], made
        with engine.connect() as conn:  # the listing's own connection keeps no transaction
            states = conn.scalars(
                sa.text(
                    "SELECT state FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND application_name = ''"
                    " AND query NOT LIKE 'LOCK TABLE%' AND state LIKE 'idle%'"
                )
            ).all()
        assert "idle in transaction" not in states, states
    finally:
        locker.rollback()
        locker.close()
        engine.dispose()
        # The given-up read ends once the lock is gone; its connection is closed before the
        # fixture disposes the fleet.
        for thread in threading.enumerate():
            if thread.name.startswith("fleet"):
                thread.join(10)
