"""Rollouts: one change to many targets, in waves, on the service's pool of processes; what a
request may say, and cancel. Rollouts that halt: tests/test_rollout_halts.py."""

from __future__ import annotations

import time

import pytest

from tests.audited_rollouts import (
    R1,
    R2,
    R3,
    audit,
    audited,
    audited_directory,
    close,
    rollout_app,
    settled,
    sqlite_tenants,
)
from tests.revision_graph import MigrationsDir
from tests.tokens import DEPLOYER, READER, authorized, bearer


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


def test_a_rollout_runs_every_target_in_waves_once(client, tenants):
    r = client.post("/rollouts", json={"action": "upgrade", "waves": [1, "50%", "100%"]})
    assert r.status_code == 202, r.get_json()
    location = r.headers["Location"]
    assert location == f"/rollouts/{r.get_json()['id']}"
    rollout = settled(client, location)
    assert rollout["status"] == "succeeded", rollout
    assert [(w["wave"], w["size"], w["status"]) for w in rollout["waves"]] == [
        (1, 1, "succeeded"),
        (2, 2, "succeeded"),
        (3, 3, "succeeded"),
    ]
    assert rollout["counts"]["succeeded"] == 6 and rollout["actor"] == "tester"
    for row in rollout["targets"]:
        assert row["status"] == "succeeded" and row["attempt"] == 1
        # The same operation as POST /targets/<name>/upgrade: in that target's own log.
        op = client.get(f"/targets/{row['name']}/operations/{row['operation_id']}").get_json()
        assert op["status"] == "succeeded" and op["actor"] == "tester"
    for url in tenants.values():
        assert audit(url) == [R1, R2]
    # The canary ran before anyone else started.
    first, *rest = sorted(rollout["targets"], key=lambda x: x["started_at"])
    assert first["wave"] == 1 and all(first["finished_at"] <= x["started_at"] for x in rest)
    listed = client.get("/rollouts").get_json()
    assert listed["total"] == 1 and listed["items"][0]["counts"]["succeeded"] == 6


def test_cancel_lets_running_targets_finish_and_starts_no_more(client, migrations, tenants):
    slow = "import time\nif not op.get_context().as_sql:\n    time.sleep(1)\n"
    migrations.add(R3, R2, upgrade=audited(R3, slow))
    r = client.post("/rollouts", json={"action": "upgrade", "waves": ["100%"], "parallelism": 2})
    location = r.headers["Location"]
    deadline = time.monotonic() + 30
    while client.get(location).get_json()["counts"]["running"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cancelling = client.post(f"{location}/cancel")
    assert cancelling.status_code == 200 and cancelling.get_json()["cancel_requested"] is True
    rollout = settled(client, location)
    assert rollout["status"] == "cancelled", rollout
    ran = [x for x in rollout["targets"] if x["status"] != "pending"]
    assert 1 <= len(ran) <= 4 and all(x["status"] == "succeeded" for x in ran)
    for x in rollout["targets"]:
        assert audit(tenants[x["name"]]) == ([R1, R2, R3] if x in ran else [])
    late = client.post(f"{location}/cancel")
    assert late.status_code == 409


def test_what_a_rollout_request_may_say(client, app):
    def problem(body, status=400):
        r = client.post("/rollouts", json=body)
        assert r.status_code == status, r.get_json()
        assert r.content_type == "application/problem+json"
        return r.get_json()

    # Well-formed, but not fitting the targets: 422.
    unknown = problem({"action": "upgrade", "targets": ["t0", "nope"]}, 422)
    assert unknown["errors"] == {"targets": ["nope"]}
    assert unknown["type"].endswith(":invalid-rollout")
    assert "last wave" in problem({"action": "upgrade", "waves": [1, "50%"]}, 422)["detail"]
    assert "fewer" in problem({"action": "upgrade", "waves": [3, 1, "100%"]}, 422)["detail"]
    problem({"action": "upgrade", "waves": [0, "100%"]}, 422)
    problem({"action": "upgrade", "waves": ["lots"]}, 422)
    problem({"action": "upgrade", "waves": [{}]}, 422)
    problem({"action": "upgrade", "targets": "t0"}, 422)
    problem({"action": "upgrade", "targets": []}, 422)
    problem({"action": "upgrade", "waves": "100%"})  # not even a list
    problem({"action": "sideways"})
    problem({"action": "downgrade"}, 422)  # a downgrade says where to
    problem({"action": "upgrade", "parallelism": 0})
    assert client.get("/rollouts/nope").status_code == 404
    assert client.post("/rollouts/nope/resume").get_json()["type"].endswith(":unknown-rollout")
    # The token needs the action's scope.
    reader = app.test_client()
    r = reader.post("/rollouts", json={"action": "upgrade"}, headers=bearer(READER))
    assert r.status_code == 403
    deployer = app.test_client()
    r = deployer.post(
        "/rollouts", json={"action": "downgrade", "target": "base"}, headers=bearer(DEPLOYER)
    )
    assert r.status_code == 403 and r.get_json()["missing_scope"] == "downgrade"
    assert client.get("/rollouts").get_json()["total"] == 0  # none was started
