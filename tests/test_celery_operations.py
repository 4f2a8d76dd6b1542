"""Prefer: respond-async on Celery: with CELERY_BROKER_URL set, a single upgrade is recorded as
queued and run by a Celery worker, so it outlives the API process that accepted it; a worker
that finds it cannot run ends it refused, with the problem the caller would have been told."""

from __future__ import annotations

import json
import os
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from api import create_app
from api.config import load_config
from api.rollouts.celery_app import CeleryExecutor
from api.service.idempotency import fingerprint
from api.service.progress import PROGRESS_INTERVAL
from tests.audited_rollouts import close
from tests.databases import server_port
from tests.servers import Gunicorn, Proxy
from tests.test_celery_rollouts import R1, R2, R3, audit, body, broker, fleet, start_worker, tenants  # noqa: F401
from tests.tokens import authorized

ASYNC = {"Prefer": "respond-async"}


@pytest.fixture
def api_server(fleet):  # noqa: F811
    """The API as deployed (gunicorn, the workers' environment); stopped after the test."""
    servers: list[Gunicorn] = []

    def start() -> Gunicorn:
        servers.append(Gunicorn({}))
        return servers[-1]

    yield start
    for server in servers:
        if server.proc.returncode is None:
            server.stop()


def ended(server, location: str, timeout: float = 30) -> dict:
    """The operation once it is neither queued nor running."""
    deadline = time.monotonic() + timeout
    while (op := body(server.get(location)))["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, op
        time.sleep(0.1)
    return op


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_a_queued_upgrade_outlives_the_api_that_accepted_it(
    tenants,  # noqa: F811
    start_worker,  # noqa: F811
    api_server,
    monkeypatch,
):
    monkeypatch.setenv("SLOW_MARK", os.devnull)  # exists: R2 does not sleep
    first = api_server()
    key = {"Idempotency-Key": "deploy-4711"}
    r = first.post("/targets/t1/upgrade", json={}, headers={**ASYNC, **key})
    assert r.status_code == 202, r.json()
    assert r.json()["status"] == "queued"
    assert r.headers["Preference-Applied"] == "respond-async"
    location = r.headers["Location"]
    op_id = r.json()["id"]
    assert location == f"/targets/t1/operations/{op_id}"
    first.stop()  # the API goes before any worker has taken it

    worker = start_worker().wait_ready()
    second = api_server()
    op = ended(second, location)
    assert op["status"] == "succeeded", op
    assert op["to"] == [R3] and [s["revision"] for s in op["steps"]] == [R1, R2, R3]
    assert "Task migrateway.operation[" in worker.output()
    assert audit(tenants["t1"]) == [R1, R2, R3]

    # A retry with the key is told the same 202, and runs nothing.
    again = second.post("/targets/t1/upgrade", json={}, headers={**ASYNC, **key})
    assert again.status_code == 202 and again.json()["id"] == op_id
    assert again.headers["Idempotent-Replayed"] == "true"
    # The task delivered once more (a lost acknowledgement): the operation was taken, so the
    # second delivery does nothing.
    sent = worker.output().count("Task migrateway.operation[")
    executor = CeleryExecutor(load_config(os.environ, "/nonexistent"))
    write = {"kind": "upgrade", "target": "head", "sql": False, "purge": False}
    write |= {"resolves": None, "plan_id": None, "accept_changed": []}
    context = {"actor": "x", "client_address": None, "lock_timeout": 5.0}
    context |= {"ddl_lock_timeout": None, "ddl_lock_retries": None, "expected_current": None}
    context |= {"idempotency_key": key["Idempotency-Key"], "request_hash": None}
    executor.queue_operation("t1", op_id, write, context)
    executor.shutdown()
    deadline = time.monotonic() + 15
    while worker.output().count("Task migrateway.operation[") < sent + 2:  # received, done
        assert time.monotonic() < deadline, worker.output()
        time.sleep(0.1)
    assert audit(tenants["t1"]) == [R1, R2, R3]
    assert body(second.get(location)) == op


@pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True)
def test_what_a_worker_refuses_ends_refused_with_the_problem(
    tenants,  # noqa: F811
    start_worker,  # noqa: F811
    api_server,
):
    server = api_server()
    start_worker().wait_ready()
    # The caller believes the database is at R3; it is empty: 412, as a waiting call is told.
    r = server.post("/targets/t1/upgrade", json={"expected_current": [R3]}, headers=ASYNC)
    assert r.status_code == 202, r.json()
    op = ended(server, r.headers["Location"])
    assert op["status"] == "refused", op
    assert op["problem"]["status"] == 412
    assert op["problem"]["type"].endswith(":precondition-failed")
    assert op["error"] == op["problem"]["detail"]
    assert op["steps"] == [] and op["finished_at"] is not None
    assert body(server.get("/targets/t1/current"))["current"] == []

    # A revision that does not exist is told at once, not queued.
    typo = server.post("/targets/t1/upgrade", json={"target": "feedface"}, headers=ASYNC)
    assert typo.status_code == 404 and typo.json()["type"].endswith(":unknown-revision")
    listed = body(server.get("/targets/t1/operations"))["items"]
    assert [o["status"] for o in listed] == ["refused"]


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_a_redelivered_operation_whose_worker_died_is_not_run_again(
    tenants,  # noqa: F811
    fleet,  # noqa: F811
    start_worker,  # noqa: F811
    api_server,
):
    server = api_server()
    worker = start_worker().wait_ready()
    r = server.post("/targets/t1/upgrade", json={}, headers=ASYNC)
    location = r.headers["Location"]
    deadline = time.monotonic() + 15
    while not os.path.exists(fleet["SLOW_MARK"]):  # R2 has begun its sleep
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(PROGRESS_INTERVAL + 0.2)  # the log has been told R2 runs
    [child] = worker.children()
    os.kill(child, 9)  # as the out-of-memory killer would
    # Celery sends the task again; the worker finds the operation taken and runs nothing.
    deadline = time.monotonic() + 15
    while worker.output().count("Task migrateway.operation[") < 2:
        assert time.monotonic() < deadline, worker.output()
        time.sleep(0.1)
    op = ended(server, location)
    assert op["status"] == "interrupted", op
    # SQLite has no transactional DDL: R2 may have run in part, and recovery says so.
    assert op["partial_possible"] is True and op["progress"]["running_revision"] == R2
    # R1 once; R2's row went with its uncommitted transaction; R3 never ran.
    assert audit(tenants["t1"]) == [R1]


def test_a_broker_that_does_not_take_it_answers_503_and_records_nothing(
    migrations, tmp_path, monkeypatch
):
    # Nothing listens on port 1: the broker is down.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    app = create_app({"DATABASE_URL": url, "MIGRATIONS_DIR": str(migrations.path)})
    client = authorized(app.test_client())
    key = {"Idempotency-Key": "k1"}
    r = client.post("/upgrade", json={}, headers={**ASYNC, **key})
    assert r.status_code == 503, r.json
    assert r.json["type"].endswith(":queue-unavailable") and r.headers["Retry-After"]
    assert client.get("/operations").json["items"] == []
    assert client.get("/current").json["current"] == []
    close(app)


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_a_queued_operation_waits_for_its_database_to_come_back(
    database_url,
    postgresql_only,
    fleet,  # noqa: F811
    start_worker,  # noqa: F811
    api_server,
    monkeypatch,
):
    # The target is reached through a proxy the test cuts: its database "goes down".
    proxy = Proxy(server_port(database_url))
    through = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    targets = [{"name": "t1", "url": through.render_as_string(hide_password=False)}]
    monkeypatch.setenv("MIGRATEWAY_TARGETS", json.dumps(targets))
    monkeypatch.setenv("SLOW_MARK", os.devnull)
    try:
        server = api_server()
        r = server.post("/targets/t1/upgrade", json={}, headers=ASYNC)
        assert r.status_code == 202, r.json()
        proxy.cut("refuse")
        worker = start_worker().wait_ready()
        deadline = time.monotonic() + 15
        while "Retry in" not in worker.output():  # the task found no database, and waits
            assert time.monotonic() < deadline, worker.output()
            time.sleep(0.1)
        assert audit_table_absent(database_url)
        proxy.restore()
        op = ended(server, r.headers["Location"])
        assert op["status"] == "succeeded", op
        assert audit(database_url) == [R1, R2, R3]
    finally:
        proxy.close()


def audit_table_absent(url: str) -> bool:
    engine = sa.create_engine(url)
    try:
        return not sa.inspect(engine).has_table("audit")
    finally:
        engine.dispose()


def test_a_retry_of_a_queued_operation_whose_answer_was_not_kept_is_told_202(migrations, tmp_path):
    # Recorded queued, its 202 not kept yet (the moment between the two, or a database that
    # went away in it): a retry with its key is told where to look, not that it ran.
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    app = create_app({"DATABASE_URL": url, "MIGRATIONS_DIR": str(migrations.path)})
    asked = {"expected": None, "target": "head", "sql": False}
    with app.app_context():
        op = app.extensions["migrateway"].oplog.queue(
            kind="upgrade",
            actor="tester",
            target="head",
            sql=False,
            client_address=None,
            idempotency_key="k1",
            request_hash=fingerprint("upgrade", asked),
        )
    client = authorized(app.test_client())
    r = client.post("/upgrade", json={}, headers={"Idempotency-Key": "k1"})
    assert r.status_code == 202, r.json
    assert r.headers["Location"] == f"/operations/{op.id}" and r.json["status"] == "queued"
    assert client.get("/current").json["current"] == []
    close(app)
