"""Alembic's async template (`alembic init -t async`) served as it is, through aiosqlite,
asyncpg and asyncmy: reads, writes, dry runs and a failure, each checked on the database itself."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from api import create_app, db
from api.config import ConfigurationError
from api.service.drivers import sync_url
from tests.databases import tables, version_rows
from tests.revision_graph import SCRIPT
from tests.servers import Gunicorn
from tests.tokens import authorized

# The async driver a user of each backend's async template names in their URL.
ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "mysql": "mysql+asyncmy",
}
ONE, TWO, FAILING = "a1c0ffee0001", "a1c0ffee0002", "a1c0ffee0003"


def async_url(database_url: str) -> str:
    """The test database's URL as the async template's user writes it."""
    url = make_url(database_url)
    drivername = ASYNC_DRIVERS[url.get_backend_name()]
    return url.set(drivername=drivername).render_as_string(hide_password=False)


def write_revision(migrations: Path, revision: str, down: str | None, upgrade: str, downgrade: str):
    (migrations / "versions" / f"{revision}.py").write_text(
        SCRIPT.format(
            message=f"step {revision}",
            revision=revision,
            revises=down or "",
            create_date="",
            down_revision=down,
            branch_labels=None,
            depends_on=None,
            upgrade=f"    {upgrade}",
            downgrade=f"    {downgrade}",
        )
    )


@pytest.fixture(scope="session")
def async_template(tmp_path_factory) -> Path:
    """A project made by `alembic init -t async`, once per session (copied per test)."""
    root = tmp_path_factory.mktemp("async-template")
    alembic = Path(sys.executable).parent / "alembic"
    subprocess.run(
        [str(alembic), "init", "-t", "async", "migrations"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    return root / "migrations"


@pytest.fixture
def project(async_template, tmp_path) -> Path:
    """The template's migrations directory with two revisions: tables account, then invoice."""
    migrations = shutil.copytree(async_template, tmp_path / "project" / "migrations")
    table = "op.create_table({!r}, sa.Column('id', sa.Integer, primary_key=True))"
    write_revision(migrations, ONE, None, table.format("account"), "op.drop_table('account')")
    write_revision(migrations, TWO, ONE, table.format("invoice"), "op.drop_table('invoice')")
    return migrations


@pytest.fixture
def async_client(project, database_url):
    app = create_app({"DATABASE_URL": async_url(database_url), "MIGRATIONS_DIR": str(project)})
    yield authorized(app.test_client())
    with app.app_context():
        db.engine.dispose()


def ok(r, status: int = 200) -> dict:
    assert r.status_code == status, r.get_data(as_text=True)
    return r.get_json()


def test_reads_and_writes_work_and_the_log_matches_the_database(async_client, database_url):
    client = async_client
    assert ok(client.get("/current")) == {
        "current": [],
        "heads": [TWO],
        "up_to_date": False,
        "pending": [ONE, TWO],
    }
    assert ok(client.get("/ready")) == {"database": "ok", "migrations": "ok"}
    threads = set(threading.enumerate())

    up = ok(client.post("/upgrade", json={"target": ONE}))
    assert up["to"] == [ONE] and [s["revision"] for s in up["applied"]] == [ONE]
    assert version_rows(database_url) == {ONE} and "account" in tables(database_url)
    # Reads after a write: the service reads with its own sync engine, not env.py's.
    assert ok(client.get("/current"))["current"] == [ONE]

    assert ok(client.post("/upgrade"))["to"] == [TWO]
    assert {"account", "invoice"} <= tables(database_url)
    down = ok(client.post("/downgrade", json={"target": ONE}))
    assert down["to"] == [ONE] and [s["revision"] for s in down["reverted"]] == [TWO]
    assert "invoice" not in tables(database_url)
    assert ok(client.post("/stamp", json={"target": TWO}))["to"] == [TWO]
    assert version_rows(database_url) == {TWO} and "invoice" not in tables(database_url)

    assert ok(client.get("/current"))["up_to_date"] is True
    assert ok(client.get("/ready")) == {"database": "ok", "migrations": "ok"}
    log = ok(client.get("/operations"))["items"]
    assert [(op["kind"], op["status"], op["to"]) for op in log] == [
        ("stamp", "succeeded", [TWO]),
        ("downgrade", "succeeded", [ONE]),
        ("upgrade", "succeeded", [TWO]),
        ("upgrade", "succeeded", [ONE]),
    ]
    # asyncio.run() in the request's thread left no thread (aiosqlite's, a loop's) behind,
    # and no event loop set on this thread.
    assert set(threading.enumerate()) <= threads
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


def test_a_dry_run_renders_the_sql_and_changes_nothing(async_client, database_url):
    rendered = ok(async_client.post("/upgrade", json={"sql": True}))["sql"]
    assert "CREATE TABLE account" in rendered and "CREATE TABLE invoice" in rendered
    assert version_rows(database_url) == set()
    assert not {"account", "invoice", "alembic_version"} & tables(database_url)

    ok(async_client.post("/upgrade"))
    rendered = ok(async_client.post("/downgrade", json={"target": "base", "sql": True}))["sql"]
    assert "DROP TABLE invoice" in rendered and "DROP TABLE account" in rendered
    assert version_rows(database_url) == {TWO}
    assert {"account", "invoice"} <= tables(database_url)


def test_a_failing_revision_says_where_the_database_is(async_client, project, database_url):
    write_revision(
        project,
        FAILING,
        TWO,
        "op.create_table('receipt', sa.Column('id', sa.Integer))\n"
        "    raise RuntimeError('boom in an async project')",
        "op.drop_table('receipt')",
    )
    r = async_client.post("/upgrade")
    problem = ok(r, 422)
    assert r.content_type == "application/problem+json"
    assert problem["type"] == "urn:migrateway:problem:migration-failed"
    assert problem["failed_revision"] == FAILING
    assert "RuntimeError: boom in an async project" in problem["error"]
    held = version_rows(database_url)
    assert sorted(held) == problem["current"]
    if make_url(database_url).get_backend_name() == "postgresql":
        assert held == set()  # one transaction (the template's): all of it rolled back
        assert not {"account", "invoice", "receipt"} & tables(database_url)
    # What the 422 lists as done is what the database holds, read back.
    applied = {(): [], (ONE,): [ONE], (TWO,): [ONE, TWO]}[tuple(sorted(held))]
    assert [s["revision"] for s in problem["completed"]] == applied

    op = ok(async_client.get(f"/operations/{problem['operation_id']}"))
    assert (op["status"], op["to"], op["failed_revision"]) == ("failed", sorted(held), FAILING)
    # The service still reads the database after a failed async run.
    assert ok(async_client.get("/current"))["current"] == sorted(held)
    assert ok(async_client.get("/ready"))["database"] == "ok"


def test_the_run_lock_is_held_by_the_connection_env_py_migrates_on(
    network_only, async_client, project, database_url
):
    held_by_me = {
        "postgresql": "SELECT count(*) AS held FROM pg_locks WHERE locktype = 'advisory' "
        "AND granted AND pid = pg_backend_pid()",
        "mysql": "SELECT IS_USED_LOCK(CONCAT('migrateway-run:', DATABASE())) = CONNECTION_ID() "
        "AS held",
    }[make_url(database_url).get_backend_name()]
    write_revision(
        project, FAILING, TWO, f"op.execute({f'CREATE TABLE lock_seen AS {held_by_me}'!r})", "pass"
    )
    ok(async_client.post("/upgrade"))
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT held FROM lock_seen")).scalar() == 1
    finally:
        engine.dispose()


def test_a_gunicorn_worker_keeps_serving_after_async_runs(project, database_url):
    server = Gunicorn({"DATABASE_URL": async_url(database_url), "MIGRATIONS_DIR": str(project)})
    try:
        for body in ({}, {"target": "base"}, {}):
            kind = "downgrade" if body else "upgrade"
            assert server.post(f"/{kind}", json=body).status_code == 200
        answers = [server.get("/current") for _ in range(8)]
        assert {r.status_code for r in answers} == {200}
        assert answers[-1].json()["current"] == [TWO]
        assert server.get("/ready").status_code == 200
        assert version_rows(database_url) == {TWO}
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("given", "served"),
    [
        ("sqlite+aiosqlite:////srv/app.db", "sqlite+pysqlite:////srv/app.db"),
        ("postgresql+asyncpg://u:p%40ss@db:5433/app", "postgresql+psycopg://u:p%40ss@db:5433/app"),
        ("postgresql+asyncpg://db/app?ssl=require", "postgresql+psycopg://db/app?sslmode=require"),
        ("postgresql+psycopg_async://db/app", "postgresql+psycopg://db/app"),
        (
            "mysql+asyncmy://root@db/app?charset=utf8mb4",
            "mysql+pymysql://root@db/app?charset=utf8mb4",
        ),
        ("mariadb+aiomysql://root@db/app", "mariadb+pymysql://root@db/app"),
        ("postgresql://db/app", "postgresql://db/app"),
        ("sqlite://", "sqlite://"),
    ],
)
def test_the_service_connects_with_the_sync_driver_of_the_same_database(given, served):
    assert sync_url(given) == served


def test_an_async_driver_without_a_sync_counterpart_is_named_at_start():
    with pytest.raises(ConfigurationError, match="async driver 'aioodbc'"):
        create_app({"DATABASE_URL": "mssql+aioodbc://db/app"})
