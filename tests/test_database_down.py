"""A database that is down, restarting or gone mid-operation: every answer is a 503 a pipeline
can retry (or the true answer, where the database is not needed), never a 500, and no
operation stays `running` once the database is back."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from api import create_app, db
from tests.databases import operation_log, server_port, servers, version_rows
from tests.revision_graph import SECOND, TIP
from tests.servers import Gunicorn, Proxy, free_port
from tests.tokens import authorized

FAST, SLOW = "ffff00000007", "ffff00000008"
WRITES = [
    (kind, headers)
    for kind in ("upgrade", "downgrade", "stamp")
    for headers in (
        {},
        {"Idempotency-Key": "k"},
        {"Prefer": "respond-async"},
        {"Idempotency-Key": "k", "Prefer": "respond-async"},
    )
]
# Every endpoint, and its answer while the database cannot be reached. /branches needs only
# the migrations directory; /metrics reports the database down; /ready says not-ready.
ENDPOINTS = [
    ("GET", "/current", {}, "database-unavailable"),
    ("GET", "/heads", {}, "database-unavailable"),
    ("GET", "/branches", {}, 200),
    ("GET", "/revisions", {}, "database-unavailable"),
    ("GET", f"/revisions/{SECOND}", {}, "database-unavailable"),
    ("GET", "/operations", {}, "database-unavailable"),
    ("GET", "/operations/0b7a32a8-2a43-4c55-8a36-2b3dc0d4a6e5", {}, "database-unavailable"),
    ("GET", "/metrics", {}, 200),
    ("GET", "/ready", {}, "not-ready"),
] + [("POST", f"/{kind}", headers, "database-unavailable") for kind, headers in WRITES]


@pytest.fixture
def proxy(database_url, network_only):
    """A Proxy in front of the test's database, and the URL that reaches the database through it."""
    proxy = Proxy(server_port(database_url))
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    proxy.url = url.render_as_string(hide_password=False)
    yield proxy
    proxy.close()


def assert_unavailable(answer) -> None:
    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.content_type == "application/problem+json"
    assert answer.get_json()["type"].endswith(":database-unavailable")
    assert int(answer.headers["Retry-After"]) > 0


def test_reads_after_the_database_went_away_are_503_every_time(migrations, proxy):
    app = create_app(
        {"DATABASE_URL": proxy.url, "MIGRATIONS_DIR": str(migrations.path), "DB_CONNECT_TIMEOUT": 2}
    )
    client = authorized(app.test_client())
    try:
        assert client.post("/upgrade", json={"target": SECOND}).status_code == 200
        assert client.get("/current").get_json()["current"] == [SECOND]  # the fast path, warm

        proxy.cut("refuse")
        # The first read finds its kept connection dead; the next ones must make a new one.
        for path in ("/current", "/current", "/heads", "/revisions", f"/revisions/{SECOND}"):
            assert_unavailable(client.get(path))

        proxy.restore()
        assert client.get("/current").get_json()["current"] == [SECOND]
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize(
    "method, path, headers, expected",
    ENDPOINTS,
    ids=[f"{m} {p} {' '.join(sorted(h))}".strip() for m, p, h, _ in ENDPOINTS],
)
def test_every_endpoint_answers_while_the_database_cannot_be_reached(
    backend, network_only, migrations, method, path, headers, expected
):
    nowhere = make_url(servers()[backend]).set(host="127.0.0.1", port=free_port(), database="x")
    app = create_app(
        {
            "DATABASE_URL": nowhere.render_as_string(hide_password=False),
            "MIGRATIONS_DIR": str(migrations.path),
        }
    )
    body = {"target": SECOND} if method == "POST" else None
    try:
        answer = authorized(app.test_client()).open(path, method=method, json=body, headers=headers)
    finally:
        with app.app_context():
            db.engine.dispose()
    if expected == 200:
        assert answer.status_code == 200, answer.get_data(as_text=True)
        if path == "/metrics":
            assert "migrateway_database_up 0.0" in answer.get_data(as_text=True)
        return
    if expected == "database-unavailable":
        assert_unavailable(answer)
        return
    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.get_json()["type"].endswith(f":{expected}")
    assert int(answer.headers["Retry-After"]) > 0


def table_of(revision: str) -> str:
    return f"op.create_table('t_{revision}', sa.Column('id', sa.Integer))"


def logged(database_url: str) -> dict[str, tuple[str, str | None]]:
    """{id: (status, failed_revision)} of the operation log, read directly (see oplog/store.py)."""
    url, schema = operation_log(database_url)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                f"SELECT id, status, failed_revision FROM {schema}.operations"
            )
            return {op_id: (status, failed) for op_id, status, failed in rows}
    finally:
        engine.dispose()


def test_an_operation_the_database_left_mid_way_is_settled_when_it_returns(
    migrations, database_url, proxy
):
    migrations.add(FAST, TIP)
    # Slow when it runs, not when the data-loss guard renders it (as `upgrade --sql` would);
    # it says when it has begun, so the cut falls inside it, not between two revisions (that
    # is a lost lock, tested in test_lock_lost.py).
    begun = migrations.path.parent / "slow-begun"
    migrations.add(
        SLOW,
        FAST,
        upgrade="import time\nif not op.get_context().as_sql:\n"
        f"    open({str(begun)!r}, 'w').close()\n    time.sleep(1)\n" + table_of(SLOW),
    )
    server = Gunicorn(
        {
            "DATABASE_URL": proxy.url,
            "MIGRATIONS_DIR": str(migrations.path),
            "DB_CONNECT_TIMEOUT": "2",
        }
    )
    key = {"Idempotency-Key": "deploy-7"}
    try:
        assert server.post("/upgrade", json={"target": TIP}).status_code == 200
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(server.post, "/upgrade", json={}, headers=key)
            deadline = time.monotonic() + 20
            # FAST committed, SLOW begun: its progress report is due within 0.5 s, after the cut.
            while not (begun.exists() and version_rows(database_url) == {FAST}):
                assert time.monotonic() < deadline, "the upgrade never reached the slow revision"
                time.sleep(0.01)
            proxy.cut("refuse")
            answer = pending.result(timeout=30)
        # The revision failed with its database (422 from the runner; 503 would do as well),
        # and how the operation ended cannot be written yet.
        assert answer.status_code in (422, 503), answer.text
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert server.get("/operations").status_code == 503
        (op_id,) = [i for i, (status, _) in logged(database_url).items() if status == "running"]

        proxy.restore()
        deadline = time.monotonic() + 10
        while logged(database_url)[op_id][0] == "running":  # written with nobody asking
            assert time.monotonic() < deadline, "the operation stayed running"
            time.sleep(0.1)
        assert logged(database_url)[op_id] == ("failed", SLOW)
        op = server.get(f"/operations/{op_id}").json()
        assert op["status"] == "failed" and [s["revision"] for s in op["steps"]] == [FAST]
        # The revision it applied was recorded with its end, kept until the database returned.
        (fast,) = [r for r in server.get("/verify").json()["revisions"] if r["revision"] == FAST]
        assert fast["status"] == "ok" and fast["operation_id"] == op_id
        retry = server.post("/upgrade", json={}, headers=key)
        if answer.status_code == 422:  # the answer kept for the key, replayed
            assert retry.headers.get("Idempotent-Replayed") == "true", retry.text
            assert retry.text == answer.text
        else:  # a 503 said "retry", and was not kept: the retry is told the record's end
            assert retry.status_code == 422, retry.text
            assert retry.json()["operation_id"] == op_id
    finally:
        output = server.stop()
    assert "Traceback" not in output, output  # no 500, no thread that died of the outage


def test_an_async_start_whose_record_cannot_be_read_back_still_answers_202(migrations, proxy):
    app = create_app(
        {"DATABASE_URL": proxy.url, "MIGRATIONS_DIR": str(migrations.path), "DB_CONNECT_TIMEOUT": 2}
    )
    client = authorized(app.test_client())
    with app.app_context():
        engine = db.engine
    recorded, gone = threading.Event(), threading.Event()

    def on_execute(conn, statement, *args) -> None:
        if isinstance(statement, sa.Insert) and statement.table.name == "operations":
            recorded.set()

    def on_checkin(*args) -> None:
        # The database goes away the moment the operation is recorded, before it is read back.
        if recorded.is_set() and not gone.is_set():
            gone.set()
            proxy.cut("refuse")

    event.listen(engine, "after_execute", on_execute)
    event.listen(engine, "checkin", on_checkin)
    key = {"Idempotency-Key": "deploy-8", "Prefer": "respond-async"}
    try:
        started = client.post("/upgrade", headers=key)
        # It is under way: a 503 would invite a second run. Where to look is what matters.
        assert started.status_code == 202, started.get_data(as_text=True)
        location = started.headers["Location"]
        assert location == f"/operations/{started.get_json()['id']}"

        proxy.restore()
        deadline = time.monotonic() + 10
        while (op := client.get(location).get_json())["status"] == "running":
            assert time.monotonic() < deadline, op
            time.sleep(0.1)
        assert op["status"] == "failed"  # env.py could not connect
        again = client.post("/upgrade", headers=key)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert (again.status_code, again.headers["Location"]) == (202, location)
    finally:
        # Its thread records the end before it lets go of its connections: under load it may
        # still be closing them (a connection of a pool disposed meanwhile is left open).
        for thread in threading.enumerate():
            if thread.name == "migrateway-async":
                thread.join(timeout=10)
        with app.app_context():
            db.engine.dispose()


def test_a_keyed_write_the_database_left_after_it_ran_is_not_told_503_on_every_retry(
    migrations, proxy
):
    app = create_app(
        {"DATABASE_URL": proxy.url, "MIGRATIONS_DIR": str(migrations.path), "DB_CONNECT_TIMEOUT": 2}
    )
    client = authorized(app.test_client())
    with app.app_context():
        engine = db.engine
    moved, gone = threading.Event(), threading.Event()

    def on_execute(conn, statement, *args) -> None:
        if "alembic_version" in str(statement) and str(statement).lstrip().startswith("UPDATE"):
            moved.set()

    def on_checkin(*args) -> None:
        # The database goes away once the last revision committed, before it is read back.
        if moved.is_set() and not gone.is_set():
            gone.set()
            proxy.cut("refuse")

    assert client.post("/upgrade", json={"target": SECOND}).status_code == 200
    event.listen(engine, "after_execute", on_execute)
    event.listen(engine, "checkin", on_checkin)
    key = {"Idempotency-Key": "deploy-9"}
    try:
        first = client.post("/upgrade", json={"target": TIP}, headers=key)
        assert_unavailable(first)  # the outcome is unknown here: retry
        proxy.restore()
        # The retry, once the database is back, is told how the operation ended (not 503
        # again, and never run twice): the process ran it; nothing recorded its end.
        retry = client.post("/upgrade", json={"target": TIP}, headers=key)
        assert retry.status_code == 409, retry.get_data(as_text=True)
        kind = retry.get_json()["type"]
        # Told from the record (no answer was kept): not ended yet, or ended by the reaper.
        assert kind.endswith((":operation-in-progress", ":operation-interrupted")), kind
    finally:
        with app.app_context():
            db.engine.dispose()
