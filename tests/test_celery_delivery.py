"""Rollout targets on real Celery workers and brokers: a task runs a target's migration, and
Celery's at-least-once delivery (a worker killed mid-task, its task redelivered to another)
applies nothing twice. The job here is tests/celery_standin.py's; the plumbing is the
service's (api/rollouts/celery_app.py, api/rollouts/celery_worker.py)."""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest
import sqlalchemy as sa
from celery import Celery

from api import create_app
from api.config import load_config
from api.rollouts.celery_app import CeleryExecutor
from api.service.progress import PROGRESS_INTERVAL
from tests import celery_workers
from tests.databases import version_rows
from tests.revision_graph import MigrationsDir
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
    return celery_workers.reachable_broker(request.param)


@pytest.fixture
def fleet(tmp_path, database_url, broker):
    """The environment of the API and its workers: one target on the test's database, with
    the audit revisions, and a queue of this test's own (deleted afterwards)."""
    migrations = MigrationsDir(tmp_path / "migrations")
    create = "op.create_table('audit', sa.Column('id', sa.Integer, primary_key=True), "
    create += "sa.Column('revision', sa.String(32), nullable=False))\n"
    migrations.add(R1, None, upgrade=create + AUDIT.format(R1), downgrade="pass")
    migrations.add(R2, R1, upgrade=AUDIT.format(R2) + "\n" + SLOW, downgrade="pass")
    migrations.add(R3, R2, upgrade=AUDIT.format(R3), downgrade="pass")
    queue = f"mw-test-{uuid.uuid4().hex[:12]}"
    env = {
        "DATABASE_URL": database_url,
        "MIGRATIONS_DIR": str(migrations.path),
        "MIGRATEWAY_TARGETS": json.dumps([{"name": "t1", "url": database_url}]),
        "CELERY_BROKER_URL": broker,
        "CELERY_QUEUE": queue,
        "CELERY_TEST_OUTCOMES": str(tmp_path / "outcomes.jsonl"),
        "SLOW_MARK": str(tmp_path / "slow-ran"),
    }
    yield env
    celery_workers.delete_queue(broker, queue)


@pytest.fixture
def start_worker(fleet):
    """Start a worker on the fleet's environment (``idle``: on a queue nobody sends to, until
    told otherwise); each is killed after the test."""
    workers = []

    def start(idle: bool = False) -> celery_workers.Worker:
        env = {**fleet, "CELERY_QUEUE": fleet["CELERY_QUEUE"] + "-idle"} if idle else fleet
        workers.append(celery_workers.Worker(env, app="tests.celery_standin"))
        return workers[-1]

    yield start
    for worker in workers:
        worker.kill()


def executor(env: dict) -> CeleryExecutor:
    return CeleryExecutor(load_config(env, "/nonexistent"))


def outcomes(env: dict, count: int, timeout: float = 15) -> list[dict]:
    """The first ``count`` outcomes the job wrote, waiting for them."""
    path = env["CELERY_TEST_OUTCOMES"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as lines:
                found = [json.loads(line) for line in lines]
            if len(found) >= count:
                return found
        time.sleep(0.05)
    raise AssertionError(f"{count} outcomes expected within {timeout} s")


def audit_rows(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(conn.scalars(sa.text("SELECT revision FROM audit")))
    finally:
        engine.dispose()


def wait_until(condition, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.usefixtures("sqlite_only")
def test_a_task_runs_the_target_once_however_often_it_is_delivered(fleet, start_worker):
    fleet["SLOW_MARK"] = os.devnull  # exists: R2 does not sleep
    start_worker().wait_ready()
    queued = executor(fleet)
    try:
        queued.submit("r1", "t1")
        first = outcomes(fleet, 1)[0]
        # Delivered again (as after a lost acknowledgement): answered, nothing runs.
        queued.submit("r1", "t1")
        again = outcomes(fleet, 2)[1]
    finally:
        queued.shutdown()
    assert first["status"] == 200, first
    assert [step["revision"] for step in first["body"]["applied"]] == [R1, R2, R3]
    assert again["status"] == 200 and again["body"] == first["body"]
    assert audit_rows(fleet["DATABASE_URL"]) == [R1, R2, R3]


# Every backend on Redis; RabbitMQ (whose redelivery is its own) with PostgreSQL.
@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_a_task_whose_worker_died_mid_revision_runs_on_another(fleet, start_worker, backend):
    worker_dies_mid_revision(fleet, start_worker, backend)


@pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True)
@pytest.mark.usefixtures("postgresql_only")
def test_rabbitmq_redelivers_the_task_of_a_worker_that_died(fleet, start_worker, backend):
    worker_dies_mid_revision(fleet, start_worker, backend)


def worker_dies_mid_revision(fleet, start_worker, backend) -> None:
    """A worker's pool process is killed in R2; another worker gets the task, and the
    database ends with each revision applied once (or, without transactional DDL, with the
    recovery an operator owes, after which the target runs to the end, once)."""
    # Both start at once; the second takes nothing from the test's queue until told to.
    first, second = start_worker(), start_worker(idle=True)
    first.wait_ready(), second.wait_ready()
    queued = executor(fleet)
    try:
        queued.submit("r2", "t1")
        wait_until(lambda: os.path.exists(fleet["SLOW_MARK"]))
        # Until the log says R2 runs (it is told at most every PROGRESS_INTERVAL; before that,
        # an interrupted operation names R1, "interrupted in or after" it).
        time.sleep(PROGRESS_INTERVAL + 0.2)
        # In R2's sleep: the second worker takes up the queue, the first gives it up (so the
        # task it runs can only go to the second), and the first's pool process running the
        # task dies, as the out-of-memory killer would kill it.
        control = Celery(broker=fleet["CELERY_BROKER_URL"]).control
        queue = fleet["CELERY_QUEUE"]
        control.add_consumer(queue, destination=[second.name], reply=True, timeout=5)
        control.cancel_consumer(queue, destination=[first.name], reply=True, timeout=5)
        control.app.close()
        [child] = first.children()
        os.kill(child, 9)
        outcome = outcomes(fleet, 1)[0]
    finally:
        queued.shutdown()
    assert "WorkerLostError" in first.output() or "SIGKILL" in first.output()
    assert "migrateway.rollout_target" in second.output()
    url = fleet["DATABASE_URL"]
    if backend == "postgresql":
        # Transactional DDL: R2 rolled back with its process; the next attempt applies it.
        assert outcome["status"] == 200, outcome
        assert outcome["key"] == "rollout:r2:t1:2"
        assert [step["revision"] for step in outcome["body"]["applied"]] == [R2, R3]
        assert audit_rows(url) == [R1, R2, R3]
        return
    # No transactional DDL: R2 may have partly run, so nothing more runs until an operator
    # has looked at the schema and stamped the revision it matches.
    assert outcome["status"] == 409, outcome
    assert outcome["body"]["type"].endswith("recovery-required")
    assert outcome["body"]["failed_revision"] == R2
    assert version_rows(url) == {R1}
    assert audit_rows(url) == [R1]  # R2's row was rolled back with its uncommitted statement
    # The operator's stamp resolves it, and the target runs again: each row once.
    app = create_app({k: v for k, v in fleet.items() if k.isupper()})
    client = authorized(app.test_client())
    stamp = client.post(
        "/targets/t1/stamp",
        json={"target": R1, "resolves": outcome["body"]["operation_id"]},
    )
    assert stamp.status_code == 200, stamp.json
    queued = executor(fleet)
    try:
        queued.submit("r2-resumed", "t1")
        resumed = outcomes(fleet, 2)[1]
    finally:
        queued.shutdown()
    assert resumed["status"] == 200, resumed
    assert audit_rows(url) == [R1, R2, R3]
