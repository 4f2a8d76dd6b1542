"""Rollouts on real Celery workers and brokers (Redis, RabbitMQ): POST /rollouts with
CELERY_BROKER_URL queues one task per target, workers started as the README says run them,
and Celery's at-least-once delivery (a worker killed mid-revision, its task redelivered to
another; a task delivered twice) applies nothing twice."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest

from api import create_app
from api.config import load_config
from api.rollouts.celery_app import LOST_RUNS, CeleryExecutor
from api.service.progress import PROGRESS_INTERVAL
from tests import celery_workers
from tests.audited_rollouts import audit, close
from tests.databases import version_rows
from tests.revision_graph import MigrationsDir
from tests.servers import Gunicorn
from tests.tokens import authorized

R1, R2, R3 = "a0d17000001a", "a0d17000002b", "a0d17000003c"
# Each revision writes its own row to an insert-only table: a revision run twice shows twice.
AUDIT = "op.execute(\"INSERT INTO audit (revision) VALUES ('{}')\")"
# R2 sleeps once, online only, after its row is written: long enough to be killed in it.
SLOW = """import os, pathlib, time
if not op.get_context().as_sql and not pathlib.Path(os.environ["SLOW_MARK"]).exists():
    pathlib.Path(os.environ["SLOW_MARK"]).touch()
    time.sleep(60)
"""


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request):
    url = celery_workers.reachable_broker(request.param)
    return celery_workers.own_database(url) if "short_visibility" in request.fixturenames else url


@pytest.fixture
def short_visibility(monkeypatch):
    """Workers that put back a message 2 s after it was taken (on a database of their own)."""
    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", "2")


@pytest.fixture
def tenants(request, tmp_path) -> dict[str, str]:
    """Three SQLite tenants; or, for a test parametrised over the backends, one target on the
    test's database there."""
    if "backend" in request.fixturenames:
        return {"t1": request.getfixturevalue("database_url")}
    return {f"t{i}": f"sqlite:///{tmp_path / f't{i}.sqlite'}" for i in range(3)}


@pytest.fixture
def fleet(tmp_path, tenants, broker, monkeypatch):
    """The environment the API and its workers share (set in this process too, as a
    deployment sets it for both): the targets, the audit revisions, and a queue of this
    test's own on the broker (removed afterwards)."""
    migrations = MigrationsDir(tmp_path / "migrations")
    create = "op.create_table('audit', sa.Column('id', sa.Integer, primary_key=True), "
    create += "sa.Column('revision', sa.String(32), nullable=False))\n"
    migrations.add(R1, None, upgrade=create + AUDIT.format(R1), downgrade="pass")
    migrations.add(R2, R1, upgrade=AUDIT.format(R2) + "\n" + SLOW, downgrade="pass")
    migrations.add(R3, R2, upgrade=AUDIT.format(R3), downgrade="pass")
    queue = f"mw-test-{uuid.uuid4().hex[:12]}"
    env = {
        # The rollouts' own rows live beside DATABASE_URL's operation log.
        "DATABASE_URL": f"sqlite:///{tmp_path / 'control.sqlite'}",
        "MIGRATIONS_DIR": str(migrations.path),
        "MIGRATEWAY_TARGETS": json.dumps([{"name": n, "url": u} for n, u in tenants.items()]),
        "CELERY_BROKER_URL": broker,
        "CELERY_QUEUE": queue,
        "SLOW_MARK": str(tmp_path / "slow-ran"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield env
    celery_workers.forget_queues(broker, queue, queue + "-idle")


@pytest.fixture
def api(fleet):
    """The service, made from the environment as the workers' is."""
    app = create_app()
    yield app
    close(app)


@pytest.fixture
def client(api):
    return authorized(api.test_client())


@pytest.fixture
def start_worker(fleet):
    """Start a worker (``idle``: on a queue nobody sends to, until told otherwise); each is
    killed after the test."""
    workers = []

    def start(concurrency: int = 1, idle: bool = False) -> celery_workers.Worker:
        env = {"CELERY_QUEUE": fleet["CELERY_QUEUE"] + "-idle"} if idle else {}
        workers.append(celery_workers.Worker(env, concurrency))
        return workers[-1]

    yield start
    for worker in workers:
        worker.kill()


def settled(client, location: str, timeout: float = 20) -> dict:
    """The rollout once it stopped running (``client``: a test client or a live server)."""
    deadline = time.monotonic() + timeout
    while (rollout := body(client.get(location)))["status"] == "running":
        assert time.monotonic() < deadline, rollout
        time.sleep(0.1)
    return rollout


def body(answer) -> dict:
    return answer.json() if callable(answer.json) else answer.json


def wait_until(condition, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_rollout_runs_on_celery_workers_once_however_often_delivered(
    tenants, start_worker, monkeypatch
):
    monkeypatch.setenv("SLOW_MARK", os.devnull)  # exists: R2 does not sleep
    worker = start_worker(concurrency=2)
    # The API as deployed: gunicorn, with the workers' environment.
    server = Gunicorn({})
    try:
        worker.wait_ready()
        r = server.post("/rollouts", json={"action": "upgrade", "waves": [1, "100%"]})
        assert r.status_code == 202, r.json()
        location = r.headers["Location"]
        rollout = settled(server, location)
        assert rollout["status"] == "succeeded", rollout
        assert all(x["status"] == "succeeded" and x["attempt"] == 1 for x in rollout["targets"])
        # The workers ran them, not the service: each target's task is in the worker's log.
        assert worker.output().count("Task migrateway.rollout_target[") >= 2 * len(tenants)
        for url in tenants.values():
            assert audit(url) == [R1, R2, R3]
        # Each task delivered once more (as after an acknowledgement lost with its
        # connection): a finished target is never run again.
        again = CeleryExecutor(load_config(os.environ, "/nonexistent"))
        try:
            for name in tenants:
                again.submit(rollout["id"], name)
            wait_until(lambda: worker.output().count(" succeeded in ") == 2 * len(tenants))
        finally:
            again.shutdown()
        for url in tenants.values():
            assert audit(url) == [R1, R2, R3]
        assert server.get(location).json()["targets"] == rollout["targets"]
    finally:
        server.kill()  # nothing runs any more: no need to wait for a graceful stop
        server.stop()


# Every backend on Redis, where the worker gives the lost task back. On RabbitMQ, the broker
# itself gives back the task of a worker that vanished whole: tests/test_celery_rollouts_crash.py.
@pytest.mark.parametrize("broker", ["redis"], indirect=True)
@pytest.mark.usefixtures("not_mysql")
def test_a_task_whose_worker_died_mid_revision_runs_on_another(
    client, fleet, tenants, start_worker, backend
):
    """The pool process running target t1 is killed in R2; another worker gets the task, and
    the database ends with each revision applied once: at once with transactional DDL, after
    the operator's recovery without it."""
    url = tenants["t1"]
    # Both start at once; the second takes nothing from the test's queue until told to.
    first, second = start_worker(), start_worker(idle=True)
    first.wait_ready(), second.wait_ready()
    r = client.post("/rollouts", json={"action": "upgrade", "waves": ["100%"]})
    location = r.headers["Location"]
    wait_until(lambda: os.path.exists(fleet["SLOW_MARK"]))
    # Until the log says R2 runs (it is told at most every PROGRESS_INTERVAL; before that,
    # an interrupted operation names R1, "interrupted in or after" it).
    time.sleep(PROGRESS_INTERVAL + 0.2)
    # In R2's sleep: the second worker takes up the queue, the first gives it up (so the task
    # it runs can only go to the second), and the first's pool process running the task dies,
    # as the out-of-memory killer would kill it.
    control = CeleryExecutor(client.application.config).celery
    queue = fleet["CELERY_QUEUE"]
    control.control.add_consumer(queue, destination=[second.name], reply=True, timeout=5)
    control.control.cancel_consumer(queue, destination=[first.name], reply=True, timeout=5)
    control.close()
    [child] = first.children()
    os.kill(child, 9)
    rollout = settled(client, location)
    [target] = rollout["targets"]
    assert "SIGKILL" in first.output()
    assert "Task migrateway.rollout_target[" in second.output()
    if backend == "postgresql":
        # Transactional DDL: R2 rolled back with its process; the redelivered task ran the
        # target again under a key of its own (attempt 2), from R1.
        assert rollout["status"] == "succeeded", rollout
        assert target["attempt"] == 2
        op = client.get(f"/targets/t1/operations/{target['operation_id']}").get_json()
        assert [step["revision"] for step in op["steps"]] == [R2, R3]
        assert audit(url) == [R1, R2, R3]
        return
    # No transactional DDL: R2 may have partly run, so the redelivered task runs nothing and
    # says so; the rollout halts on it, and the database is as R1 left it.
    assert rollout["status"] == "halted", rollout
    assert target["status"] == "interrupted", target
    assert target["error"].startswith("operation-interrupted:")
    assert version_rows(url) == {R1}
    assert audit(url) == [R1]  # R2's row went with its uncommitted transaction
    # The usual recovery: look, stamp what the schema matches naming the operation, resume.
    stamp = client.post(
        "/targets/t1/stamp", json={"target": R1, "resolves": target["operation_id"]}
    )
    assert stamp.status_code == 200, stamp.get_json()
    assert client.post(f"{location}/resume").status_code == 202
    rollout = settled(client, location)
    assert rollout["status"] == "succeeded", rollout
    assert audit(url) == [R1, R2, R3]


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
@pytest.mark.usefixtures("postgresql_only", "short_visibility")
def test_redis_gives_a_vanished_workers_task_to_a_later_worker(
    client, fleet, tenants, start_worker, backend
):
    """Redis has no connection that ends with the worker: the task of a worker killed whole
    goes back to the queue once CELERY_VISIBILITY_TIMEOUT has passed since it was taken."""
    first = start_worker().wait_ready()
    location = client.post("/rollouts", json={"action": "upgrade"}).headers["Location"]
    wait_until(lambda: os.path.exists(fleet["SLOW_MARK"]))
    first.kill()
    time.sleep(2.2)  # since the marker, so since the task was taken: longer
    second = start_worker().wait_ready()
    rollout = settled(client, location)
    assert rollout["status"] == "succeeded", rollout
    assert "Task migrateway.rollout_target[" in second.output()
    assert audit(tenants["t1"]) == [R1, R2, R3]


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
@pytest.mark.usefixtures("postgresql_only")
def test_a_target_whose_process_dies_each_time_stops_being_delivered(
    client, fleet, tenants, start_worker, backend, monkeypatch
):
    """A revision that kills its process (as running out of memory would) is run LOST_RUNS
    times, then its target is written interrupted and the rollout halts: it does not take
    the workers' processes down forever."""
    monkeypatch.setenv("SLOW_MARK", os.devnull)
    migrations = MigrationsDir.__new__(MigrationsDir)
    migrations.path = Path(fleet["MIGRATIONS_DIR"])
    kill = "import os\nif not op.get_context().as_sql:\n    os.kill(os.getpid(), 9)\n"
    migrations.add("dead00000004", R3, upgrade=AUDIT.format("dead00000004") + "\n" + kill)
    worker = start_worker().wait_ready()
    started = client.post("/rollouts", json={"action": "upgrade"})
    worker.wait_for_deaths(LOST_RUNS)  # each may be noticed 5 s late: 15 s in all
    rollout = settled(client, started.headers["Location"])
    assert rollout["status"] == "halted", rollout
    [target] = rollout["targets"]
    assert target["status"] == "interrupted"
    assert (
        target["error"] == f"the process running it died {LOST_RUNS} times (out of memory? killed?)"
    )
    assert worker.output().count(celery_workers.KILLED) == LOST_RUNS
    # Each run rolled back with its process (PostgreSQL): the revisions before it, once.
    assert audit(tenants["t1"]) == [R1, R2, R3]
