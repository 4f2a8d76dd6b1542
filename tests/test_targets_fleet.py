"""Named targets: every call per target under /targets/<name>, and the fleet matrix."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from api import create_app, db
from api.fleet.scope import PREFIX_RULE
from api.service.lock import is_free
from tests import databases
from tests.conftest import reachable_server
from tests.databases import tables, version_rows
from tests.revision_graph import ALL, BASE, SECOND, TIP, table
from tests.tokens import DEPLOYER, READER, authorized, bearer


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def second_url(backend, tmp_path):
    """A second empty database on the same backend."""
    (tmp_path / "second").mkdir()
    with databases.fresh_database(reachable_server(backend), tmp_path / "second") as url:
        yield url


@pytest.fixture
def fleet_app(migrations, database_url, second_url, tmp_path):
    """DATABASE_URL is a SQLite file of its own; targets one and two are the backend's."""
    targets = [{"name": "one", "url": database_url}, {"name": "two", "url": second_url}]
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'main.sqlite'}",
            "MIGRATIONS_DIR": str(migrations.path),
            "MIGRATEWAY_TARGETS": json.dumps(targets),
        }
    )
    yield app
    app.extensions["migrateway_targets"].dispose()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def fleet(fleet_app):
    return authorized(fleet_app.test_client())


def test_each_target_is_upgraded_and_logged_on_its_own(fleet, database_url, second_url):
    r = fleet.post("/targets/one/upgrade", json={"target": SECOND})
    assert r.status_code == 200, r.get_json()
    assert version_rows(database_url) == {SECOND}
    assert tables(second_url) == set()  # two is as it was
    assert fleet.get("/targets/two/current").get_json()["current"] == []
    assert fleet.get("/current").get_json()["current"] == []  # and so is DATABASE_URL

    one = fleet.get("/targets/one/current").get_json()
    assert one["current"] == [SECOND] and one["up_to_date"] is False
    (op,) = fleet.get("/targets/one/operations").get_json()["items"]
    assert op["kind"] == "upgrade" and op["to"] == [SECOND]
    assert fleet.get(f"/targets/one/operations/{op['id']}").get_json()["id"] == op["id"]
    # Each target's log is its own: two's has nothing, nor has the unscoped one.
    assert fleet.get("/targets/two/operations").get_json()["total"] == 0
    assert fleet.get("/operations").get_json()["total"] == 0
    assert fleet.get(f"/targets/two/operations/{op['id']}").status_code == 404

    r = fleet.post("/targets/two/upgrade", json={})
    assert r.status_code == 200 and version_rows(second_url) == {TIP}
    assert fleet.post("/targets/one/downgrade", json={"target": BASE}).status_code == 200
    assert version_rows(database_url) == {BASE} and version_rows(second_url) == {TIP}
    assert table(TIP) in tables(second_url) and table(TIP) not in tables(database_url)


def test_per_target_reads_answer_as_the_unscoped_ones(fleet, sqlite_only):
    assert fleet.post("/targets/one/upgrade", json={"target": SECOND}).status_code == 200
    revisions = fleet.get("/targets/one/revisions").get_json()
    applied = {item["revision"] for item in revisions["items"] if item["applied"]}
    assert applied == {BASE, SECOND}
    assert fleet.get("/targets/one/revisions/head").get_json()["revision"] == TIP
    assert fleet.get(f"/targets/one/revisions/{BASE}").get_json()["revision"] == BASE
    plan = fleet.post("/targets/one/plan", json={"action": "upgrade"})
    assert plan.status_code == 200, plan.get_json()
    assert fleet.get("/targets/one/verify").status_code == 200
    # The same problems, as problem+json.
    r = fleet.post("/targets/one/upgrade", json={"target": "nope"})
    assert r.status_code == 404 and r.content_type == "application/problem+json"
    assert r.get_json()["type"].endswith("unknown-revision")
    assert fleet.get("/revisions").get_json()["items"][0]["applied"] is False  # unscoped


def test_an_unknown_target_is_404_and_scopes_are_those_of_the_call(fleet_app, sqlite_only):
    client = fleet_app.test_client()
    for path in ("/targets/nope/current", "/targets/nope/operations"):
        r = client.get(path, headers=bearer())
        assert r.status_code == 404 and r.content_type == "application/problem+json"
        assert r.get_json()["type"] == "urn:migrateway:problem:unknown-target"
    assert client.post("/targets/nope/upgrade", json={}, headers=bearer()).status_code == 404
    # No token: 401 before anything says whether the target exists.
    assert client.get("/targets/nope/current").status_code == 401
    assert client.get("/targets").status_code == 401

    assert client.get("/targets/one/current", headers=bearer(READER)).status_code == 200
    r = client.post("/targets/one/upgrade", json={}, headers=bearer(READER))
    assert r.status_code == 403 and r.get_json()["missing_scope"] == "upgrade"
    r = client.post("/targets/one/downgrade", json={"target": "base"}, headers=bearer(DEPLOYER))
    assert r.status_code == 403 and r.get_json()["missing_scope"] == "downgrade"
    r = client.post("/targets/one/upgrade", json={"target": BASE}, headers=bearer(DEPLOYER))
    assert r.status_code == 200
    assert (
        client.post(
            "/targets/one/plan", json={"action": "upgrade"}, headers=bearer(READER)
        ).status_code
        == 200
    )


def test_two_targets_do_not_wait_for_each_others_lock(fleet_app, migrations):
    # A revision that holds one's lock until released; two upgrades meanwhile.
    release, entered = threading.Event(), threading.Event()
    migrations.add(
        "aaaa00000099",
        TIP,
        message="waits",
        upgrade="import builtins\nbuiltins._fleet_entered.set()\nbuiltins._fleet_release.wait(20)",
    )
    import builtins

    builtins._fleet_entered, builtins._fleet_release = entered, release
    answers = {}

    def slow() -> None:
        answers["one"] = authorized(fleet_app.test_client()).post("/targets/one/upgrade", json={})

    worker = threading.Thread(target=slow)
    worker.start()
    try:
        assert entered.wait(20)
        client = authorized(fleet_app.test_client())
        # one is locked: a second write there is refused at once ...
        busy = client.post("/targets/one/upgrade", json={"target": TIP, "lock_timeout": 0})
        assert busy.status_code == 409, busy.get_json()
        # ... while two's lock is its own and free. (alembic.context is one per process, so
        # two's run itself waits for one's in this process; another process would not.)
        fleet = fleet_app.extensions["migrateway_targets"]
        assert not is_free(fleet.service("one").engine)
        assert is_free(fleet.service("two").engine)
        release.set()
        r = client.post("/targets/two/upgrade", json={"target": TIP, "lock_timeout": 5})
        assert r.status_code == 200, r.get_json()
    finally:
        release.set()
        worker.join(30)
        del builtins._fleet_entered, builtins._fleet_release
    assert answers["one"].status_code == 200


def test_the_fleet_matrix_with_filters_and_an_unreachable_target(
    migrations, database_url, second_url, tmp_path
):
    port = _closed_port()
    targets = [
        {"name": "one", "url": database_url},
        {"name": "two", "url": second_url},
        {"name": "gone", "url": f"postgresql://postgres@127.0.0.1:{port}/nothing"},
    ]
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'main.sqlite'}",
            "MIGRATIONS_DIR": str(migrations.path),
            "MIGRATEWAY_TARGETS": json.dumps(targets),
        }
    )
    client = authorized(app.test_client())
    try:
        assert client.post("/targets/one/upgrade", json={}).status_code == 200
        assert client.post("/targets/two/upgrade", json={"target": SECOND}).status_code == 200

        page = client.get("/targets").get_json()
        assert page["total"] == 3 and (page["limit"], page["offset"]) == (50, 0)
        one, two, gone = page["items"]
        assert one["name"] == "one" and one["reachable"] and one["up_to_date"] is True
        assert one["current"] == [TIP] and one["pending"] == 0
        assert one["last_operation"]["kind"] == "upgrade"
        assert one["last_operation"]["status"] == "succeeded"
        assert set(one["last_operation"]) == {"id", "kind", "status", "finished_at"}
        assert two["up_to_date"] is False and two["pending"] == len(ALL) - 2
        assert gone == {
            "name": "gone",
            "reachable": False,
            "current": None,
            "up_to_date": None,
            "pending": None,
            "last_operation": None,
            "problem": None,
        }

        names = lambda query: [r["name"] for r in client.get(query).get_json()["items"]]  # noqa: E731
        assert names("/targets?up_to_date=false") == ["two"]
        assert names("/targets?up_to_date=true") == ["one"]
        assert names("/targets?reachable=false") == ["gone"]
        assert names("/targets?limit=1&offset=1") == ["two"]
        assert client.get("/targets?up_to_date=false&limit=1").get_json()["total"] == 1
        r = client.get("/targets?limit=0")
        assert r.status_code == 400 and r.content_type == "application/problem+json"
        assert client.get("/targets", headers=bearer(READER)).status_code == 200
    finally:
        app.extensions["migrateway_targets"].dispose()
        with app.app_context():
            db.engine.dispose()


def test_a_slow_target_does_not_hold_the_page(migrations, tmp_path, sqlite_only):
    # A server that accepts and never answers: only the read bound ends the wait.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    port = silent.getsockname()[1]
    targets = [
        {"name": "fine", "url": f"sqlite:///{tmp_path / 'fine.sqlite'}"},
        {"name": "silent", "url": f"postgresql://postgres@127.0.0.1:{port}/x"},
    ]
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'main.sqlite'}",
            "MIGRATIONS_DIR": str(migrations.path),
            "MIGRATEWAY_TARGETS": json.dumps(targets),
            "TARGET_READ_TIMEOUT": 1.0,
            "DB_CONNECT_TIMEOUT": 30,
        }
    )
    try:
        started = time.monotonic()
        page = authorized(app.test_client()).get("/targets").get_json()
        assert time.monotonic() - started < 5
        assert [(r["name"], r["reachable"]) for r in page["items"]] == [
            ("fine", True),
            ("silent", False),
        ]
    finally:
        silent.close()
        app.extensions["migrateway_targets"].dispose()
        with app.app_context():
            db.engine.dispose()


def test_per_target_rules_exist_for_every_write(fleet_app, sqlite_only):
    from api.auth import WRITE_SCOPES, required_scope

    rules = {r.rule for r in fleet_app.url_map.iter_rules()}
    for method, rule in WRITE_SCOPES:
        if rule.startswith("/rollouts"):  # a rollout names its targets in its body
            assert PREFIX_RULE + rule not in rules
            continue
        assert PREFIX_RULE + rule in rules
        assert required_scope(method, PREFIX_RULE + rule) == WRITE_SCOPES[(method, rule)]


def test_an_asynchronous_write_on_a_target_points_at_its_log(fleet, sqlite_only):
    r = fleet.post("/targets/two/upgrade", json={}, headers={"Prefer": "respond-async"})
    assert r.status_code == 202, r.get_json()
    op_id = r.get_json()["id"]
    assert r.headers["Location"] == f"/targets/two/operations/{op_id}"
    for _ in range(200):
        op = fleet.get(r.headers["Location"]).get_json()
        if op["status"] != "running":
            break
        time.sleep(0.05)
    assert op["status"] == "succeeded" and op["to"] == [TIP]
    assert fleet.get("/targets/one/operations").get_json()["total"] == 0


def test_without_targets_the_matrix_is_empty(client, sqlite_only):
    assert client.get("/targets").get_json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    r = client.get("/targets/any/current")
    assert r.status_code == 404 and r.get_json()["type"].endswith("unknown-target")
