"""A rollout whose service crashed mid-way (every process of it, SIGKILL): the rollout reads
interrupted, and resume finishes it with nothing applied twice."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack

import pytest
import sqlalchemy as sa

from api.service.oplog.rollout_records import STALE
from tests import databases
from tests.conftest import reachable_server
from tests.servers import Gunicorn
from tests.test_rollouts import R1, R2, R3, audited, audited_directory, settled

pytestmark = pytest.mark.usefixtures("postgresql_only")

SLOW = "import time\nif not op.get_context().as_sql:\n    time.sleep(1)\n"


def audit(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(sa.text("SELECT revision FROM audit ORDER BY id")))
    finally:
        engine.dispose()


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
