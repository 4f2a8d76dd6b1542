"""Prefer: respond-async answers 202 at once; the operation shows its progress while it runs."""

from __future__ import annotations

import time

import pytest

from tests.databases import version_rows
from tests.revision_graph import TIP

pytestmark = pytest.mark.usefixtures("sqlite_only")
SLOW = "ffff00000007"


def test_an_async_upgrade_reports_progress_until_it_succeeds(client, migrations, database_url):
    migrations.add(
        SLOW,
        TIP,
        message="slow one",
        # Slow when it runs, not when it is rendered: the data-loss guard renders a chain it
        # cannot prove harmless before the 202 (as `upgrade --sql` would, running its Python).
        upgrade="import time\nif not op.get_context().as_sql:\n    time.sleep(1.5)\n"
        "op.create_table('t_slow', sa.Column('id', sa.Integer))",
    )
    start = time.monotonic()
    r = client.post("/upgrade", headers={"Prefer": "respond-async"})
    assert r.status_code == 202, r.get_json()
    assert time.monotonic() - start < 1.5
    assert r.headers["Preference-Applied"] == "respond-async"
    location = r.headers["Location"]
    assert location == f"/operations/{r.get_json()['id']}"
    assert r.get_json()["status"] == "running"
    assert r.get_json()["progress"]["total"] == 7

    seen_running = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        op = client.get(location).get_json()
        if op["status"] == "running" and op["progress"]["running_revision"] == SLOW:
            seen_running = op
        if op["status"] != "running":
            break
        time.sleep(0.1)
    assert seen_running is not None, "progress never showed the slow revision running"
    assert seen_running["progress"]["done"] == 6
    assert seen_running["progress"]["elapsed_ms"] > 0
    assert op["status"] == "succeeded"
    assert op["progress"] == {**op["progress"], "done": 7, "total": 7, "running_revision": None}
    assert version_rows(database_url) == {SLOW}


def test_errors_before_the_start_are_still_plain_problems(client):
    r = client.post("/upgrade", json={"target": "nosuchrev"}, headers={"Prefer": "respond-async"})
    assert r.status_code == 404
    assert r.content_type == "application/problem+json"


def test_without_prefer_the_call_waits(client):
    r = client.post("/upgrade")
    assert r.status_code == 200 and r.get_json()["to"] == [TIP]
