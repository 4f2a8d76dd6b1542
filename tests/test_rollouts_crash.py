"""A rollout whose service crashed mid-way (every process of it, SIGKILL): the rollout reads
interrupted, and resume finishes it with nothing applied twice. A service process killed alone
leaves none of its rollout processes behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from api.service.oplog.rollout_records import STALE
from tests import databases
from tests.audited_rollouts import R1, R2, R3, audit, audited, audited_directory, settled
from tests.conftest import reachable_server
from tests.servers import Gunicorn

pytestmark = pytest.mark.usefixtures("postgresql_only")

SLOW = "import time\nif not op.get_context().as_sql:\n    time.sleep(1)\n"


def mid_way(counts: dict) -> bool:
    """Two targets ended and a next one started: the kill comes mid-way. The two ending
    together leave none running until the driver's next look at the store starts the next."""
    return counts["succeeded"] >= 2 and counts.get("running", 0) >= 1


def test_resume_after_a_crash_finishes_and_applies_nothing_twice(backend, tmp_path):
    migrations = audited_directory(tmp_path / "migrations")
    migrations.add(R3, R2, upgrade=audited(R3, SLOW))
    admin = reachable_server(backend)
    with ExitStack() as stack:
        urls = {}
        for i in range(4):
            (tmp_path / f"db{i}").mkdir()
            urls[f"t{i}"] = stack.enter_context(
                databases.fresh_database(admin, tmp_path / f"db{i}")
            )
        env = {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'control.sqlite'}",
            "MIGRATIONS_DIR": str(migrations.path),
            "MIGRATEWAY_TARGETS": json.dumps([{"name": n, "url": u} for n, u in urls.items()]),
            "ROLLOUT_WORKERS": "2",
        }
        server = Gunicorn(env)
        try:
            r = server.post(
                "/rollouts", json={"action": "upgrade", "waves": ["100%"], "parallelism": 2}
            )
            assert r.status_code == 202, r.text
            location = r.headers["Location"]
            deadline = time.monotonic() + 60
            while not mid_way((now := server.get(location).json())["counts"]):
                assert time.monotonic() < deadline, now
                assert now["counts"]["succeeded"] < 4, now  # none was left to kill mid-way
                time.sleep(0.05)
            server.kill()  # the API, its driver and its worker processes, mid-revision
            server.stop()
            server = Gunicorn(env)
            deadline = time.monotonic() + STALE + 5
            while (rollout := server.get(location).json())["status"] == "running":
                assert time.monotonic() < deadline, rollout
                time.sleep(0.2)
            assert rollout["status"] == "interrupted", rollout
            r = server.post(f"{location}/resume")
            assert r.status_code == 202, r.text
            rollout = settled(server, location)
        finally:
            output = server.stop()
        assert rollout["status"] == "succeeded", (rollout, output)
        for name, url in urls.items():
            assert audit(url) == [R1, R2, R3], name  # each revision ran once, on every target


def test_the_pool_processes_of_a_service_killed_alone_leave_after_their_target(tmp_path):
    """The out-of-memory killer takes the API's process alone: its rollout processes end the
    target they run, then leave (nothing else would ever end them)."""
    migrations = audited_directory(tmp_path / "migrations")
    migrations.add(R3, R2, upgrade=audited(R3, SLOW))
    tenants = {f"t{i}": f"sqlite:///{tmp_path / f't{i}.sqlite'}" for i in range(4)}
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'control.sqlite'}",
        "MIGRATIONS_DIR": str(migrations.path),
        "MIGRATEWAY_TARGETS": json.dumps([{"name": n, "url": u} for n, u in tenants.items()]),
        "ROLLOUT_WORKERS": "2",
    }
    server = Gunicorn(env)
    try:
        r = server.post("/rollouts", json={"action": "upgrade", "waves": ["100%"]})
        location = r.headers["Location"]
        [worker] = children(server.proc.pid)
        deadline = time.monotonic() + 30
        # Until a target runs in one of the rollout's two processes (under the fork server).
        while not server.get(location).json()["counts"].get("running") or (
            len(pool := descendants(worker)) < 3
        ):
            assert time.monotonic() < deadline, pool
            time.sleep(0.05)
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while alive := [pid for pid in pool if running(pid)]:
            assert time.monotonic() < deadline, alive
            time.sleep(0.1)
    finally:
        server.kill()
        server.stop()


def children(pid: int) -> list[int]:
    """Those of every thread of ``pid`` (Linux lists a child under the thread that made it)."""
    found = []
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(FileNotFoundError):  # the thread ended meanwhile
            found += [int(child) for child in path.read_text().split()]
    return found


def descendants(pid: int) -> list[int]:
    found = children(pid)
    return found + [d for child in found for d in descendants(child)]


def running(pid: int) -> bool:
    """Alive and not a zombie (one that ended and waits for its parent to collect it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
