"""Real fleets rolled out: 200 SQLite tenant files, 50 PostgreSQL schemas in one database,
5 MariaDB databases; every revision writes to an insert-only audit table, so a revision that
ran twice on a tenant shows twice."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
import sqlalchemy as sa

from api import create_app
from tests import databases
from tests.audited_rollouts import R1, R2, audit, audited_directory, close, settled
from tests.conftest import reachable_server
from tests.tokens import authorized


def _roll_out(tmp_path, targets: list[dict], waves: list) -> dict:
    migrations = audited_directory(tmp_path / "migrations")
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'control.sqlite'}",
            "MIGRATIONS_DIR": str(migrations.path),
            "MIGRATEWAY_TARGETS": json.dumps(targets),
            "ROLLOUT_WORKERS": 2,
            "LOG_LEVEL": "WARNING",
        }
    )
    client = authorized(app.test_client())
    try:
        r = client.post("/rollouts", json={"action": "upgrade", "waves": waves, "parallelism": 8})
        assert r.status_code == 202, r.get_json()
        rollout = settled(client, r.headers["Location"], timeout=240)
        matrix = client.get("/targets?up_to_date=false").get_json()
    finally:
        close(app)
    assert rollout["status"] == "succeeded", [x for x in rollout["targets"] if x["error"]][:3]
    assert matrix["total"] == 0  # GET /targets agrees: every target is up to date
    return rollout


@pytest.mark.usefixtures("sqlite_only")
def test_200_sqlite_tenants(tmp_path):
    urls = {f"tenant-{i:03d}": f"sqlite:///{tmp_path / f'{i}.sqlite'}" for i in range(200)}
    targets = [{"name": n, "url": u} for n, u in urls.items()]
    rollout = _roll_out(tmp_path, targets, [1, "10%", "100%"])
    assert [w["size"] for w in rollout["waves"]] == [1, 19, 180]
    for url in urls.values():
        assert audit(url) == [R1, R2]


@pytest.mark.usefixtures("postgresql_only")
def test_50_postgresql_schemas_found_by_pattern(database_url, tmp_path):
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for i in range(50):
            conn.exec_driver_sql(f"CREATE SCHEMA tenant_{i:02d}")
    engine.dispose()
    rollout = _roll_out(tmp_path, [{"url": database_url, "schemas": "tenant_%"}], [1, "100%"])
    assert len(rollout["targets"]) == 50
    for i in range(50):
        assert audit(database_url, f"tenant_{i:02d}") == [R1, R2]


@pytest.mark.usefixtures("mysql_only")
def test_5_mariadb_databases(backend, tmp_path):
    admin = reachable_server(backend)
    with ExitStack() as stack:
        urls = {}
        for i in range(5):
            (tmp_path / f"db{i}").mkdir()
            urls[f"db{i}"] = stack.enter_context(
                databases.fresh_database(admin, tmp_path / f"db{i}")
            )
        _roll_out(tmp_path, [{"name": n, "url": u} for n, u in urls.items()], [1, "100%"])
        for url in urls.values():
            assert audit(url) == [R1, R2]
