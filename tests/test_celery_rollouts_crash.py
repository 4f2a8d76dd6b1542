"""A rollout on Celery with two API servers and two workers, where the API server driving it
and the worker running a target die together (SIGKILL, mid-revision): the broker gives the
task to the other worker, the other API server resumes the rollout, and every revision has
run once."""

from __future__ import annotations

import os
import time

import pytest

from api.service.oplog.rollout_records import STALE
from tests.servers import Gunicorn
from tests.test_celery_rollouts import (  # noqa: F401
    R1,
    R2,
    R3,
    audit,
    broker,
    fleet,
    settled,
    start_worker,
    tenants,
    wait_until,
)


@pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True)
@pytest.mark.usefixtures("postgresql_only")
def test_the_driving_api_and_the_running_worker_die_and_nothing_runs_twice(
    fleet,  # noqa: F811
    tenants,  # noqa: F811
    start_worker,  # noqa: F811
    backend,
):
    workers = [start_worker(), start_worker()]
    for worker in workers:
        worker.wait_ready()
    driving, other = Gunicorn({}), Gunicorn({})
    try:
        r = driving.post("/rollouts", json={"action": "upgrade", "waves": ["100%"]})
        assert r.status_code == 202, r.json()
        location = r.headers["Location"]
        wait_until(lambda: os.path.exists(fleet["SLOW_MARK"]))  # R2 sleeps in one worker
        [running] = [w for w in workers if "Task migrateway.rollout_target[" in w.output()]
        [spare] = [w for w in workers if w is not running]
        running.kill()  # its machine lost: RabbitMQ gives the task back when its link drops
        driving.kill()  # and the API driving the rollout with it
        # The other API server sees the driver's heartbeat stop, then resumes it.
        deadline = time.monotonic() + STALE + 10
        while (rollout := other.get(location).json())["status"] == "running":
            assert time.monotonic() < deadline, rollout
            time.sleep(0.2)
        assert rollout["status"] == "interrupted", rollout
        assert other.post(f"{location}/resume").status_code == 202
        rollout = settled(other, location, timeout=30)
        assert rollout["status"] == "succeeded", rollout
        assert "Task migrateway.rollout_target[" in spare.output()
        # PostgreSQL: R2 rolled back with the killed process, and ran again once.
        assert audit(tenants["t1"]) == [R1, R2, R3]
    finally:
        for server in (driving, other):
            server.kill()
            server.stop()
