"""GET /targets over SQLite targets: read without making their services, with the same rows
the services give, and no file left open per target."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3

import pytest

from api import create_app, db
from tests.revision_graph import ALL, SECOND, TIP
from tests.tokens import authorized


def _stamp(path, *revisions: str) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        conn.executemany("INSERT INTO alembic_version VALUES (?)", [(r,) for r in revisions])
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def make_app(migrations, tmp_path):
    made = []

    def make(targets: list[dict]):
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp_path / 'main.sqlite'}",
                "MIGRATIONS_DIR": str(migrations.path),
                "MIGRATEWAY_TARGETS": json.dumps(targets),
            }
        )
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["migrateway_targets"].dispose()
        with app.app_context():
            db.engine.dispose()


def _target(tmp_path, name: str) -> dict:
    return {"name": name, "url": f"sqlite:///{tmp_path / name}.sqlite"}


def test_rows_are_those_the_targets_services_answer(make_app, tmp_path, sqlite_only):
    names = ("migrated", "behind", "missing", "unversioned", "broken", "unknown")
    targets = [_target(tmp_path, n) for n in names]
    writer = authorized(make_app(targets).test_client())
    assert writer.post("/targets/migrated/upgrade", json={}).status_code == 200
    assert writer.post("/targets/migrated/downgrade", json={"target": SECOND}).status_code == 200
    # Listed by a process that has made no service: every row is read from the files.
    app = make_app(targets)
    client = authorized(app.test_client())
    _stamp(tmp_path / "behind.sqlite", SECOND)
    sqlite3.connect(tmp_path / "unversioned.sqlite").close()
    (tmp_path / "broken.sqlite").write_bytes(b"not a database\n" * 100)
    _stamp(tmp_path / "unknown.sqlite", "feedfacecafe")

    rows = {r["name"]: r for r in client.get("/targets").get_json()["items"]}
    assert not any(app.extensions["migrateway_targets"].has_service(n) for n in names)
    for name in names:  # what a single target's calls answer, through its service
        current = client.get(f"/targets/{name}/current")
        if name == "broken":
            assert current.status_code == 503
            assert not rows[name]["reachable"] and rows[name]["current"] is None
            continue
        if name == "unknown":
            assert current.get_json()["type"].endswith(":revision-conflict")
            assert rows[name]["reachable"] and rows[name]["problem"] == "revision-conflict"
            continue
        assert rows[name] == service_row(client, name, current.get_json()), name
    assert rows["migrated"]["last_operation"]["kind"] == "downgrade"
    assert rows["behind"]["pending"] == len(ALL) - 2
    assert rows["missing"]["current"] == [] and not (tmp_path / "missing.sqlite").exists()


def test_an_operation_left_running_reads_interrupted(make_app, tmp_path, sqlite_only):
    targets = [_target(tmp_path, "crashed")]
    writer = authorized(make_app(targets).test_client())
    assert writer.post("/targets/crashed/upgrade", json={}).status_code == 200
    # As a process killed mid-upgrade leaves its record: running, and its lock free.
    log = sqlite3.connect(f"{tmp_path / 'crashed.sqlite'}.operations.sqlite")
    log.execute("UPDATE operations SET status = 'running', finished_at = NULL")
    log.commit()
    log.close()

    (row,) = authorized(make_app(targets).test_client()).get("/targets").get_json()["items"]
    assert row["last_operation"]["status"] == "interrupted"
    assert row["current"] == [TIP]


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_a_listing_leaves_no_file_open_per_target(make_app, tmp_path, sqlite_only):
    count = 300
    targets = [_target(tmp_path, f"t{i:03d}") for i in range(count)]
    app = make_app(targets)
    client = authorized(app.test_client())
    assert client.post("/targets/t000/upgrade", json={}).status_code == 200
    log = f"{tmp_path / 't000'}.sqlite.operations.sqlite"
    for i in range(1, count):
        path = tmp_path / f"t{i:03d}.sqlite"
        if i % 3:
            _stamp(path, TIP)
            shutil.copyfile(log, f"{path}.operations.sqlite")
        else:
            _stamp(path, SECOND)

    before = _open_files()
    page = client.get("/targets?up_to_date=false&limit=1000").get_json()
    assert page["total"] == len(range(3, count, 3))
    # A service per target kept two SQLite files open each (its database's pool and its
    # log's): 600 here.
    assert _open_files() - before < 20


def test_the_targets_share_one_parsed_graph(make_app, tmp_path, sqlite_only):
    app = make_app([_target(tmp_path, "a"), _target(tmp_path, "b")])
    fleet = app.extensions["migrateway_targets"]
    with app.app_context():
        first, second = fleet.service("a"), fleet.service("b")
        assert first.graph() is second.graph()
        # A write's own Config (its URL is its target's) is answered from the same graph.
        assert second.graph(second.config()) is first.graph()
    assert authorized(app.test_client()).post("/targets/b/upgrade", json={}).status_code == 200
    assert {
        r["name"]: r["current"]
        for r in authorized(app.test_client()).get("/targets").get_json()["items"]
    } == {"a": [], "b": [TIP]}


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_targets_read_through_their_services_keep_no_pool_open(make_app, tmp_path, sqlite_only):
    # A query in the URL: not a plain file, so each is read through its service, as a
    # server database is.
    count = 100
    urls = [f"sqlite:///{tmp_path / f't{i:03d}'}.sqlite?timeout=5" for i in range(count)]
    app = make_app([{"name": f"t{i:03d}", "url": url} for i, url in enumerate(urls)])
    client = authorized(app.test_client())
    assert client.post("/targets/t000/upgrade", json={}).status_code == 200
    for i in range(1, count):
        path = tmp_path / f"t{i:03d}.sqlite"
        _stamp(path, TIP if i % 2 else SECOND)
        shutil.copyfile(
            f"{tmp_path / 't000'}.sqlite.operations.sqlite", f"{path}.operations.sqlite"
        )

    before = _open_files()
    page = client.get("/targets?limit=1000").get_json()
    assert [r["last_operation"]["kind"] for r in page["items"]] == ["upgrade"] * count
    assert sum(r["up_to_date"] for r in page["items"]) == len(range(1, count, 2)) + 1
    # Kept, each service's pools held its database and its log open: 200 files here.
    assert _open_files() - before < 20
    # A target used again opens its connections again.
    assert client.get("/targets/t001/current").get_json()["current"] == [TIP]


def service_row(client, name: str, state: dict) -> dict:
    """The matrix row a target's own calls give (``state``: its GET /current answer)."""
    ops = client.get(f"/targets/{name}/operations?limit=1").get_json()["items"]
    last = {k: ops[0][k] for k in ("id", "kind", "status", "finished_at")} if ops else None
    return {
        "name": name,
        "reachable": True,
        "current": state["current"],
        "up_to_date": state["up_to_date"],
        "pending": len(state["pending"]),
        "last_operation": last,
        "problem": None,
    }
