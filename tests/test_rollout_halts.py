"""Rollouts that halt: at a failing canary, resumed after the fix; at a canary that would destroy
data; at a target that cannot be queued; and a webhook receiver told when one halts and ends."""

from __future__ import annotations

import json
import socket
import time

import pytest

from api import create_app
from api.service.graph_cache import GraphCache
from tests.audited_rollouts import (
    R1,
    R2,
    R3,
    audit,
    audited_directory,
    close,
    rollout_app,
    settled,
    sqlite_tenants,
    write_release,
)
from tests.revision_graph import MigrationsDir
from tests.test_webhooks import SECRET, readme_verify
from tests.tokens import authorized
from tests.webhook_receiver import Receiver


@pytest.fixture
def migrations(tmp_path) -> MigrationsDir:
    return audited_directory(tmp_path / "migrations")


@pytest.fixture
def tenants(tmp_path) -> dict[str, str]:
    return sqlite_tenants(tmp_path)


@pytest.fixture
def app(migrations, tenants, tmp_path):
    app = rollout_app(migrations, tenants, tmp_path)
    yield app
    close(app)


@pytest.fixture
def client(app):
    return authorized(app.test_client())


def test_a_failing_canary_halts_and_resume_after_the_fix_finishes(client, migrations, tenants):
    write_release(migrations, broken=True)
    r = client.post("/rollouts", json={"action": "upgrade", "waves": [1, "100%"]})
    location = r.headers["Location"]
    rollout = settled(client, location)
    assert rollout["status"] == "halted", rollout
    canary, *rest = rollout["targets"]
    assert canary["status"] == "failed" and "release 3 is broken" in canary["error"]
    assert all(x["status"] == "pending" for x in rest)
    assert [w["status"] for w in rollout["waves"]] == ["failed", "pending"]
    assert audit(tenants[canary["name"]]) == [R1, R2]  # R3 rolled back with its transaction

    write_release(migrations, broken=False)
    time.sleep(GraphCache.RELIST_SECONDS + 0.1)  # an edit in place is seen within this
    # SQLite's DDL is not transactional for Alembic: the failed revision may have left part
    # of itself, so the canary needs the usual recovery first (here nothing of R3 ran).
    name = canary["name"]
    refused = client.post(f"/targets/{name}/upgrade", json={})
    assert refused.status_code == 409 and refused.get_json()["type"].endswith("recovery-required")
    resolved = client.post(
        f"/targets/{name}/stamp", json={"target": R2, "resolves": canary["operation_id"]}
    )
    assert resolved.status_code == 200, resolved.get_json()
    again = client.post(f"{location}/resume")
    assert again.status_code == 202, again.get_json()
    rollout = settled(client, location)
    assert rollout["status"] == "succeeded", rollout["targets"]
    assert rollout["targets"][0]["attempt"] == 2  # the canary ran again, under a new key
    for url in tenants.values():
        assert audit(url) == [R1, R2, R3]
    # Nothing to resume once it succeeded.
    done = client.post(f"{location}/resume")
    assert done.status_code == 409 and done.get_json()["type"].endswith(":rollout-conflict")


def test_a_receiver_is_told_when_a_rollout_halts_and_when_it_ends(
    monkeypatch, migrations, tenants, tmp_path
):
    hook = Receiver()
    monkeypatch.setenv(
        "MIGRATEWAY_WEBHOOKS",
        json.dumps(
            [{"url": hook.url, "secret": SECRET, "events": ["rollout.halted", "rollout.succeeded"]}]
        ),
    )
    write_release(migrations, broken=True)
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'control.sqlite'}",
            "MIGRATIONS_DIR": str(migrations.path),
            "MIGRATEWAY_TARGETS": json.dumps([{"name": n, "url": u} for n, u in tenants.items()]),
            "ROLLOUT_WORKERS": 2,
        }
    )
    client = authorized(app.test_client())
    try:
        location = client.post("/rollouts", json={"action": "upgrade"}).headers["Location"]
        assert settled(client, location)["status"] == "halted"
        ((headers, body),) = hook.wait_for(1)
        assert readme_verify()(SECRET, headers["Migrateway-Signature"], body)
        sent = json.loads(body)
        assert sent["event"] == headers["Migrateway-Event"] == "rollout.halted"
        assert sent["rollout"]["id"] == location.rpartition("/")[2]
        assert (
            sent["text"]
            == "rollout of upgrade to head by tester halted: 0 of 6 succeeded, 1 failed"
        )

        write_release(migrations, broken=False)
        time.sleep(GraphCache.RELIST_SECONDS + 0.1)
        canary = settled(client, location)["targets"][0]
        client.post(
            f"/targets/{canary['name']}/stamp",
            json={"target": R2, "resolves": canary["operation_id"]},
        )
        assert client.post(f"{location}/resume").status_code == 202
        assert settled(client, location)["status"] == "succeeded"
        (_, body) = hook.wait_for(2)[1]
        assert (
            json.loads(body)["text"]
            == "rollout of upgrade to head by tester succeeded: 6 of 6 succeeded"
        )
    finally:
        close(app)
        hook.close()


def test_a_rollout_that_would_destroy_data_halts_at_the_canary(client, tenants):
    location = client.post("/rollouts", json={"action": "upgrade"}).headers["Location"]
    assert settled(client, location)["status"] == "succeeded"
    r = client.post("/rollouts", json={"action": "downgrade", "target": "base"})
    assert r.status_code == 202
    rollout = settled(client, r.headers["Location"])
    # The data-loss guard of a single downgrade: nobody acknowledged dropping the audit rows.
    assert rollout["status"] == "halted", rollout
    canary = rollout["targets"][0]
    assert canary["error"].startswith("unacknowledged-data-loss: ")
    for url in tenants.values():
        assert audit(url) == [R1, R2]  # nothing ran anywhere


def test_a_target_that_cannot_be_queued_halts_the_rollout_for_resume(migrations, tenants, tmp_path):
    with socket.socket() as closed:  # a broker that is not there
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'control.sqlite'}",
            "MIGRATIONS_DIR": str(migrations.path),
            "MIGRATEWAY_TARGETS": json.dumps([{"name": n, "url": u} for n, u in tenants.items()]),
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0",
        }
    )
    client = authorized(app.test_client())
    try:
        location = client.post("/rollouts", json={"action": "upgrade"}).headers["Location"]
        rollout = settled(client, location, timeout=30)
        assert rollout["status"] == "halted", rollout
        canary, *rest = rollout["targets"]
        assert canary["status"] == "interrupted" and "could not be queued" in canary["error"]
        assert all(x["status"] == "pending" for x in rest)
        assert all(audit(url) == [] for url in tenants.values())
    finally:
        close(app)
