"""The operation log, Idempotency-Key, If-Match, the lock and the recovery flag, per backend."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from api.service.lock import migration_lock
from tests.databases import tables, version_rows
from tests.revision_graph import ALL, BASE, SECOND, TIP, table
from tests.tokens import authorized

FAILING = "ffff00000007"


def test_every_call_is_recorded_newest_first(client, database_url):
    up = client.post("/upgrade", json={"target": SECOND}).get_json()
    down = client.post("/downgrade", json={"target": "-1"}).get_json()
    client.post("/upgrade", json={"sql": True})

    page = client.get("/operations").get_json()
    assert page["total"] == 3
    dry, second, first = page["items"]
    assert first["id"] == up["operation_id"] and second["id"] == down["operation_id"]
    assert first["kind"] == "upgrade" and first["status"] == "succeeded"
    assert first["from"] == [] and first["to"] == [SECOND] and first["target"] == SECOND
    assert [s["revision"] for s in first["steps"]] == [BASE, SECOND]
    assert first["actor"] and first["client_address"] == "127.0.0.1"
    assert first["started_at"] <= first["finished_at"]
    assert second["kind"] == "downgrade" and second["to"] == [BASE]
    assert dry["sql"] is True

    one = client.get(f"/operations/{first['id']}").get_json()
    assert one == first
    assert client.get("/operations?limit=1&offset=1").get_json()["items"] == [second]
    assert client.get("/operations/nope").status_code == 404


def test_the_log_is_invisible_to_autogenerate(client, database_url):
    assert client.post("/upgrade").status_code == 200
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), sa.MetaData())
    engine.dispose()
    # An empty model proposes to drop every table it sees: the log must not be among them.
    dropped = {d[1].name for d in diff if d[0] == "remove_table"}
    assert dropped == {table(r) for r in ALL}


def test_a_retry_with_the_same_idempotency_key_returns_the_first_answer(client, database_url):
    headers = {"Idempotency-Key": "deploy-42"}
    first = client.post("/upgrade", json={"target": SECOND}, headers=headers)
    assert first.status_code == 200
    client.post("/downgrade", json={"target": "base"})  # the database moves on meanwhile

    retry = client.post("/upgrade", json={"target": SECOND}, headers=headers)
    assert retry.status_code == 200
    assert retry.get_json() == first.get_json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert version_rows(database_url) == set()  # nothing ran again
    assert client.get("/operations").get_json()["total"] == 2

    other = client.post("/upgrade", json={"target": TIP}, headers=headers)
    assert other.status_code == 422
    assert other.get_json()["type"].endswith(":idempotency-key-reused")


def test_if_match_makes_a_retried_rollback_safe(client, database_url):
    client.post("/upgrade")
    current = client.get("/current")
    tag = current.headers["ETag"]
    assert tag == f'"{TIP}"'

    r = client.post("/downgrade", json={"target": "-1"}, headers={"If-Match": tag})
    assert r.status_code == 200
    again = client.post("/downgrade", json={"target": "-1"}, headers={"If-Match": tag})
    assert again.status_code == 412
    assert again.get_json()["current"] != [TIP]
    assert len(client.get("/operations").get_json()["items"]) == 2  # the 412 ran nothing

    by_body = client.post("/upgrade", json={"expected_current": [TIP]})
    assert by_body.status_code == 412
    fresh = client.post("/upgrade", json={"expected_current": []})
    assert fresh.status_code == 412
    assert client.post("/upgrade", headers={"If-Match": "*"}).status_code == 200


def test_a_held_lock_makes_a_second_caller_wait_then_409(app, client, database_url):
    from api import db

    with app.app_context():
        engine = db.engine
    held, release = threading.Event(), threading.Event()

    def holder():
        with migration_lock(engine, 5):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(5)
        r = client.post("/upgrade", json={"lock_timeout": 0.3})
        assert r.status_code == 409
        assert r.get_json()["type"].endswith(":locked")
        assert tables(database_url) == set()
    finally:
        release.set()
        thread.join()
    assert client.post("/upgrade", json={"lock_timeout": 2}).status_code == 200


def test_lock_timeout_is_bounded(client, sqlite_only):
    assert client.post("/upgrade", json={"lock_timeout": 3600}).status_code == 400
    assert client.post("/upgrade", json={"lock_timeout": -1}).status_code == 400


def test_an_operation_left_running_by_a_dead_process_reads_interrupted(app, client, database_url):
    with app.app_context():
        svc = app.extensions["migrateway"]
        op = svc.oplog.start(
            kind="upgrade",
            actor="ghost",
            target="head",
            sql=False,
            from_=(),
            client_address=None,
            idempotency_key=None,
            request_hash=None,
        )
    r = client.get(f"/operations/{op.id}")
    assert r.get_json()["status"] == "interrupted"


def test_a_failure_without_transactional_ddl_requires_recovery(client, migrations, database_url):
    migrations.add(
        FAILING,
        TIP,
        message="half done",
        upgrade="op.create_table('t_half', sa.Column('id', sa.Integer))\n"
        "op.execute('SELECT * FROM no_such_table')",
        downgrade="op.drop_table('t_half')",
    )
    failed = client.post("/upgrade", headers={"Idempotency-Key": "first"})
    assert failed.status_code == 422
    problem = failed.get_json()
    transactional = database_url.startswith("postgresql")
    assert problem["partial_possible"] is (not transactional)
    assert problem["current"] == [TIP] and version_rows(database_url) == {TIP}
    assert ("t_half" in tables(database_url)) is (not transactional)
    op = client.get(f"/operations/{problem['operation_id']}").get_json()
    assert op["status"] == "failed" and op["failed_revision"] == FAILING
    assert op["partial_possible"] is problem["partial_possible"]

    again = client.post("/upgrade", headers={"Idempotency-Key": "second"})
    # A retry of the first request gets its own answer, whatever later requests were told.
    retry = client.post("/upgrade", headers={"Idempotency-Key": "first"})
    assert retry.get_json() == problem and retry.headers["Idempotent-Replayed"] == "true"
    if transactional:
        assert again.status_code == 422  # nothing half-done: a retry is safe to attempt
        return
    assert again.status_code == 409
    assert again.get_json()["type"].endswith(":recovery-required")
    assert "stamp" in again.get_json()["detail"]
    assert client.post("/downgrade", json={"target": "-1"}).status_code == 409

    # The operator looks: t_half exists, so the schema matches the failed revision's
    # table; they stamp it, naming the failure they acknowledge, and migrations run again
    # (here, undoing it cleanly). A stamp that names nothing, or another operation, is refused.
    for resolves in ({}, {"resolves": "not-that-one"}):
        refused = client.post("/stamp", json={"target": FAILING, **resolves})
        assert refused.status_code == 409
        assert refused.get_json()["operation_id"] == problem["operation_id"]
        assert f'"resolves": "{problem["operation_id"]}"' in refused.get_json()["detail"]
    assert version_rows(database_url) == {TIP}
    stamp = client.post("/stamp", json={"target": FAILING, "resolves": problem["operation_id"]})
    assert stamp.status_code == 200, stamp.get_json()
    stamp_op = client.get(f"/operations/{stamp.get_json()['operation_id']}").get_json()
    assert stamp_op["resolves"] == problem["operation_id"] and stamp_op["actor"] == "tester"
    failed_op = client.get(f"/operations/{problem['operation_id']}").get_json()
    assert failed_op["resolved_by"] == stamp_op["id"]
    # Resolved once: naming it again is refused, and nothing is stamped.
    again = client.post("/stamp", json={"target": TIP, "resolves": problem["operation_id"]})
    assert again.status_code == 412 and version_rows(database_url) == {FAILING}
    r = client.post("/downgrade", json={"target": TIP})
    assert r.status_code == 200, r.get_json()
    assert version_rows(database_url) == {TIP} and "t_half" not in tables(database_url)


def test_a_log_written_by_an_earlier_version_gains_the_new_columns(
    app, client, database_url, migrations
):
    from api import create_app, db

    first = client.post("/upgrade", json={"target": SECOND}).get_json()
    with app.app_context():
        log = app.extensions["migrateway"].oplog
        where = f"{log._schema}.operations" if log._schema else "operations"
        with log.engine.connect() as conn:
            for column in ("resolves", "resolved_by", "retries"):
                conn.exec_driver_sql(f"ALTER TABLE {where} DROP COLUMN {column}")
            conn.commit()
    # A new process of the service (a new app) on that log: nothing is lost, writes go on.
    later = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
    try:
        later_client = authorized(later.test_client())
        ops = later_client.get("/operations").get_json()
        assert [op["id"] for op in ops["items"]] == [first["operation_id"]]
        assert ops["items"][0]["resolved_by"] is None and ops["items"][0]["retries"] == []
        assert later_client.post("/upgrade").status_code == 200
    finally:
        with later.app_context():
            db.engine.dispose()
