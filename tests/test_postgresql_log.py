"""The PostgreSQL server's own log stays free of errors the service causes in normal operation:
an operator reading it at 3 a.m. must not learn to skip ERROR lines."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.conftest import IN_CI
from tests.revision_graph import SECOND, TIP

# Debian's pg_ctlcluster sends the server's stderr here when logging_collector is off.
DEBIAN_LOG = "/var/log/postgresql/postgresql-{major}-main.log"
PROBLEMS = re.compile(r"\b(WARNING|ERROR|FATAL|PANIC):")


def server_log(url: str) -> Path:
    """The file the server logs to; the test fails (in CI) or skips when it cannot be read,
    or when its lines do not name their database (log_line_prefix without %d)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            current = conn.exec_driver_sql("SELECT pg_current_logfile('stderr')").scalar()
            data = conn.exec_driver_sql("SHOW data_directory").scalar()
            major = conn.exec_driver_sql("SHOW server_version").scalar().split(".")[0]
            prefix = conn.exec_driver_sql("SHOW log_line_prefix").scalar()
    finally:
        engine.dispose()
    path = Path(data, current) if current else Path(DEBIAN_LOG.format(major=major))
    reason = None
    if "%d" not in prefix:
        reason = f"log_line_prefix {prefix!r} does not name the database (%d)"
    elif not path.is_file():
        reason = f"the server's log is not at {path}"
    if reason:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def test_a_normal_session_leaves_no_error_in_the_server_log(
    database_url, postgresql_only, live_server
):
    log = server_log(database_url)
    start = log.stat().st_size
    server = live_server
    for _ in range(8):  # each gunicorn thread reads on a connection of its own
        assert server.get("/current").status_code == 200
    up = server.post("/upgrade", json={"target": SECOND}, headers={"Idempotency-Key": "s-1"})
    assert up.status_code == 200, up.text
    again = server.post("/upgrade", json={"target": SECOND}, headers={"Idempotency-Key": "s-1"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert server.post("/upgrade", json={"sql": True}).status_code == 200
    tag = server.get("/current").headers["ETag"]
    assert server.post("/downgrade", json={"target": "-1"}, headers={"If-Match": tag}).ok
    assert server.post("/stamp", json={"target": SECOND}).status_code == 200
    started = server.post("/upgrade", headers={"Prefer": "respond-async"})
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 20
    while server.get(started.headers["Location"]).json()["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    for path in ("/current", "/heads", "/branches", "/revisions", f"/revisions/{TIP}"):
        assert server.get(path).status_code == 200, path
    for path in ("/operations", f"/operations/{up.json()['operation_id']}", "/metrics", "/ready"):
        assert server.get(path).status_code == 200, path

    with log.open("rb") as file:
        file.seek(start)
        lines = file.read().decode(errors="replace").splitlines()
    # Other tests, in this run and in others, log to the same file: only this database's lines.
    ours = f"@{make_url(database_url).database} "
    assert [line for line in lines if ours in line and PROBLEMS.search(line)] == []
