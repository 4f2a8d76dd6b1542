"""Rollouts: one change to many targets, in waves, on the service's pool of processes."""

from __future__ import annotations

import json
import socket
import time

import pytest
import sqlalchemy as sa

from api import create_app, db
from api.service.graph_cache import GraphCache
from tests.revision_graph import MigrationsDir
from tests.test_webhooks import SECRET, readme_verify
from tests.tokens import DEPLOYER, READER, authorized, bearer
from tests.webhook_receiver import Receiver

R1, R2, R3 = "a1a1a1a1a1a1", "b2b2b2b2b2b2", "c3c3c3c3c3c3"
FAIL = "raise RuntimeError('release 3 is broken')\n"


def audited(revision: str, extra: str = "") -> str:
    """An upgrade that writes one row to the insert-only audit table: a revision that ran
    twice shows twice."""
    return (
        extra
        + f"op.create_table('t_{revision}', sa.Column('id', sa.Integer, primary_key=True))\n"
        + f"op.execute(\"INSERT INTO audit (revision) VALUES ('{revision}')\")"
    )


def write_release(migrations: MigrationsDir, broken: bool) -> None:
    migrations.add(R3, R2, upgrade=audited(R3, FAIL if broken else ""))


@pytest.fixture
def migrations(tmp_path) -> MigrationsDir:
    return audited_directory(tmp_path / "migrations")


def audited_directory(path) -> MigrationsDir:
    """R1 makes the audit table, R2 a table; each writes its row to the audit table."""
    migrations = MigrationsDir(path)
    migrations.add(
        R1,
        None,
        upgrade="op.create_table('audit', sa.Column('id', sa.Integer, primary_key=True), "
        "sa.Column('revision', sa.String(12)))\n"
        + f"op.execute(\"INSERT INTO audit (revision) VALUES ('{R1}')\")",
        downgrade="op.drop_table('audit')",
    )
    migrations.add(R2, R1, upgrade=audited(R2))
    return migrations


@pytest.fixture
def tenants(tmp_path) -> dict[str, str]:
    return {f"t{i}": f"sqlite:///{tmp_path / f't{i}.sqlite'}" for i in range(6)}


@pytest.fixture
def app(migrations, tenants, tmp_path):
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'control.sqlite'}",
            "MIGRATIONS_DIR": str(migrations.path),
            "MIGRATEWAY_TARGETS": json.dumps([{"name": n, "url": u} for n, u in tenants.items()]),
            # One process: these tests are about order and state, not speed (each spawned
            # process imports the service first).
            "ROLLOUT_WORKERS": 1,
        }
    )
    yield app
    close(app)


def close(app) -> None:
    """Stop what a rollout test's app started: its executor, its pools."""
    made = app.extensions.get("migrateway_executor")
    if made is not None:
        made.shutdown()
    hooks = app.extensions.get("migrateway_webhooks")
    if hooks is not None:
        hooks.stop()
    app.extensions["migrateway_targets"].dispose()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app):
    return authorized(app.test_client())


def audit(url: str, schema: str | None = None) -> list[str]:
    """The audit table's rows in the order they were written, read directly: each revision
    that ran, as often as it ran ([] before the table exists)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("audit", schema=schema):
                return []
            table = sa.table("audit", sa.column("id"), sa.column("revision"), schema=schema)
            return list(conn.scalars(sa.select(table.c.revision).order_by(table.c.id)))
    finally:
        engine.dispose()


def _json(answer) -> dict:
    return answer.get_json() if hasattr(answer, "get_json") else answer.json()


def settled(client, location: str, timeout: float = 60) -> dict:
    """The rollout once it no longer runs (``client``: a test client or a tests.servers
    Gunicorn)."""
    deadline = time.monotonic() + timeout
    while (rollout := _json(client.get(location)))["status"] == "running":
        assert time.monotonic() < deadline, rollout
        time.sleep(0.1)
    return rollout


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
