"""Schema per tenant on PostgreSQL: 50 tenant schemas in one database, each a target of its
own (its version table, lock and operation log in or beside its schema), found by a pattern."""

from __future__ import annotations

import json
import threading
import time

import pytest
import sqlalchemy as sa

from api import create_app, db
from tests.revision_graph import ALL, SECOND, TIP, table
from tests.servers import Gunicorn
from tests.tokens import authorized

TENANTS = [f"tenant_{i:02d}" for i in range(50)]


def _schemas(url: str) -> dict[str, set[str]]:
    """Schema -> its tables, for every schema but the catalogue's, read directly."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT n.nspname, c.relname FROM pg_namespace n LEFT JOIN pg_class c "
                    "ON c.relnamespace = n.oid AND c.relkind = 'r' WHERE n.nspname NOT LIKE "
                    "'pg\\_%' AND n.nspname <> 'information_schema'"
                )
            ).all()
    finally:
        engine.dispose()
    found: dict[str, set[str]] = {}
    for schema, name in rows:
        found.setdefault(schema, set()).update({name} if name else set())
    return found


def _versions(url: str, schema: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.scalars(sa.text(f'SELECT version_num FROM "{schema}".alembic_version')))
    finally:
        engine.dispose()


def _lines(path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _execute(url: str, *statements: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


@pytest.fixture
def tenants_url(database_url, postgresql_only):
    """The test's PostgreSQL database with 50 empty tenant schemas (one statement)."""
    _execute(database_url, ";".join(f"CREATE SCHEMA {t}" for t in TENANTS))
    return database_url


def _app(migrations, tmp_path, targets: list[dict], **config):
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'main.sqlite'}",
            "MIGRATIONS_DIR": str(migrations.path),
            "MIGRATEWAY_TARGETS": json.dumps(targets),
            **config,
        }
    )


@pytest.fixture
def fleet_app(migrations, tenants_url, tmp_path):
    """One configured tenant ('acme', a schema that does not exist yet) and the discovery of
    every tenant_% schema."""
    targets = [
        {"name": "acme", "url": tenants_url, "schema": "tenant acme"},
        {"url": tenants_url, "schemas": "tenant\\_%"},
    ]
    app = _app(migrations, tmp_path, targets)
    yield app
    app.extensions["migrateway_targets"].dispose()
    with app.app_context():
        db.engine.dispose()


def test_one_tenant_is_upgraded_in_its_schema_alone(fleet_app, tenants_url):
    client = authorized(fleet_app.test_client())
    before = _schemas(tenants_url)
    r = client.post("/targets/tenant_07/upgrade", json={"target": SECOND})
    assert r.status_code == 200, r.get_json()

    after = _schemas(tenants_url)
    assert after["tenant_07"] == {"alembic_version", table(ALL[0]), table(SECOND)}
    assert _versions(tenants_url, "tenant_07") == {SECOND}
    # Its log is a schema of its own; nothing else changed (public neither).
    assert "operations" in after.pop("migrateway_tenant_07")
    assert {s: t for s, t in after.items() if s != "tenant_07"} == {
        s: t for s, t in before.items() if s != "tenant_07"
    }

    page = client.get("/targets?limit=100").get_json()
    rows = {r["name"]: r for r in page["items"]}
    assert [r["name"] for r in page["items"]] == ["acme", *TENANTS]  # configured, then sorted
    assert rows["tenant_07"]["current"] == [SECOND] and rows["tenant_07"]["reachable"]
    assert rows["tenant_07"]["last_operation"]["kind"] == "upgrade"
    behind = [r for r in page["items"] if r["up_to_date"] is False]
    assert len(behind) == 51 and all(r["current"] == [] for r in behind if r["name"] != "tenant_07")

    assert client.post("/targets/tenant_07/upgrade", json={}).status_code == 200
    assert client.get("/targets/tenant_07/current").get_json()["up_to_date"] is True
    page = client.get("/targets?up_to_date=false&limit=100").get_json()
    assert page["total"] == 50 and "tenant_07" not in {r["name"] for r in page["items"]}
    # Every read sees the tenant's version table and its schema alone.
    revisions = client.get("/targets/tenant_07/revisions").get_json()["items"]
    assert all(item["applied"] for item in revisions)
    plan = client.post("/targets/tenant_07/plan", json={"action": "downgrade", "target": SECOND})
    assert plan.status_code == 200, plan.get_json()
    verify = client.get("/targets/tenant_07/verify").get_json()
    drift = verify["drift"]["schema"]  # the log's tables are not the tenant's drift
    assert drift["checked"] and drift["ok"], verify


def test_a_missing_schema_reads_as_empty_and_its_first_write_makes_it(fleet_app, tenants_url):
    client = authorized(fleet_app.test_client())
    current = client.get("/targets/acme/current").get_json()
    assert current["current"] == [] and len(current["pending"]) == len(ALL)
    assert client.get("/targets/acme/operations").get_json()["total"] == 0
    assert "tenant acme" not in _schemas(tenants_url)  # reads created nothing

    r = client.post("/targets/acme/upgrade", json={})
    assert r.status_code == 200, r.get_json()
    assert _versions(tenants_url, "tenant acme") == {TIP}
    assert table(TIP) in _schemas(tenants_url)["tenant acme"]
    assert client.get("/targets/acme/operations").get_json()["total"] == 1
    # The operation logs are apart: one tenant's log does not show another's.
    assert client.get("/targets/tenant_01/operations").get_json()["total"] == 0
    assert client.post("/targets/tenant_01/upgrade", json={}).status_code == 200
    (op,) = client.get("/targets/tenant_01/operations").get_json()["items"]
    assert client.get(f"/targets/acme/operations/{op['id']}").status_code == 404


def test_discovery_finds_a_schema_made_after_the_start(fleet_app, tenants_url):
    client = authorized(fleet_app.test_client())
    assert client.get("/targets/tenant_zz/current").status_code == 404
    _execute(tenants_url, "CREATE SCHEMA tenant_zz", 'CREATE SCHEMA "tenant_Bad"')
    page = client.get("/targets?limit=100").get_json()
    names = [r["name"] for r in page["items"]]
    assert names[-1] == "tenant_zz" and "tenant_Bad" not in names  # not a target name
    assert client.get("/targets/tenant_zz/current").get_json()["current"] == []
    # Found on a miss too, without a listing first.
    time.sleep(1.1)
    _execute(tenants_url, "CREATE SCHEMA tenant_zy")
    assert client.get("/targets/tenant_zy/current").status_code == 200


def test_a_discovery_database_that_cannot_be_reached_is_one_row(migrations, tmp_path):
    from tests.servers import free_port

    down = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    app = _app(migrations, tmp_path, [{"url": down, "schemas": "tenant_%"}])
    client = authorized(app.test_client())
    try:
        (row,) = client.get("/targets").get_json()["items"]
        assert row["name"] == "tenant_%" and row["reachable"] is False
        r = client.get("/targets/tenant_%25/current")
        assert r.status_code == 503 and r.content_type == "application/problem+json"
    finally:
        app.extensions["migrateway_targets"].dispose()


def test_tenants_run_at_once_and_one_tenant_never_twice(migrations, tenants_url, tmp_path):
    # A slow revision that notes when it ran; two tenants upgraded at once run it at the same
    # time, each in a worker process of its own (alembic.context is one per process).
    ran = tmp_path / "ran.txt"
    migrations.add(
        "aaaa00000099",
        TIP,
        message="slow",
        upgrade=(
            "import time\n"
            f"with open({str(ran)!r}, 'a') as f:\n    f.write('start\\n')\n"
            "time.sleep(2)\n"
            f"with open({str(ran)!r}, 'a') as f:\n    f.write('end\\n')"
        ),
    )
    targets = [{"url": tenants_url, "schemas": "tenant\\_%"}]
    server = Gunicorn(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'main.sqlite'}",
            "MIGRATIONS_DIR": str(migrations.path),
            "MIGRATEWAY_TARGETS": json.dumps(targets),
        },
        workers=3,
        threads=1,
        # Sync workers take a request only when free: each of the three below has its own
        # process (a threaded worker would queue one behind another's slow revision; and
        # gunicorn makes sync workers threaded ones when given threads).
        args=("--worker-class", "sync"),
    )
    answers: dict[str, object] = {}

    def upgrade(name: str) -> None:
        answers[name] = server.post(f"/targets/{name}/upgrade", json={})

    try:
        runs = [threading.Thread(target=upgrade, args=(name,)) for name in TENANTS[1:3]]
        for run in runs:
            run.start()
        deadline = time.monotonic() + 30
        while _lines(ran).count("start") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Both inside the slow revision: tenant_01 is locked, and only tenant_01.
        busy = server.post("/targets/tenant_01/upgrade", json={"lock_timeout": 0})
        for run in runs:
            run.join(60)
        assert busy.status_code == 409, busy.text
        assert busy.json()["type"].endswith("locked")
        assert [answers[n].status_code for n in TENANTS[1:3]] == [200, 200]
        # Had one tenant waited for the other, its run would start after the first ended.
        assert _lines(ran) == ["start", "start", "end", "end"]
        assert _versions(tenants_url, "tenant_01") == {"aaaa00000099"}
        assert _versions(tenants_url, "tenant_02") == {"aaaa00000099"}
    finally:
        server.stop()


def test_schema_needs_postgresql(migrations, tmp_path, sqlite_only):
    from api.config import ConfigurationError

    for entry in (
        {"name": "a", "url": f"sqlite:///{tmp_path / 'a.sqlite'}", "schema": "t"},
        {"url": f"sqlite:///{tmp_path / 'a.sqlite'}", "schemas": "t_%"},
    ):
        with pytest.raises(ConfigurationError, match="needs a PostgreSQL URL") as err:
            _app(migrations, tmp_path, [entry])
        assert "\n" not in str(err.value)
    # One version table schema for every tenant would be one version table for all of them.
    tenant = {"name": "a", "url": "postgresql://postgres@127.0.0.1/x", "schema": "t"}
    with pytest.raises(ConfigurationError, match="VERSION_TABLE_SCHEMA cannot be set"):
        _app(migrations, tmp_path, [tenant], VERSION_TABLE_SCHEMA="versions")
