"""Fault tests with real processes and real databases: races, crashes, lost connections."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from api.service.lock import is_free
from tests.databases import server_port, version_rows
from tests.revision_graph import MigrationsDir
from tests.servers import Gunicorn, Proxy

CONCURRENT = 8
ROUNDS = 4
PER_ROUND = 3


def counter_revision(migrations: MigrationsDir, n: int, slow: float = 0) -> str:
    """Revision n inserts one row naming itself into counter (revision 0 creates it)."""
    rev = f"c{n:011d}"
    down = f"c{n - 1:011d}" if n else None
    if n == 0:
        body = "op.create_table('counter', sa.Column('rev', sa.String(32), nullable=False))"
        undo = "op.drop_table('counter')"
    else:
        body = f"op.execute(\"INSERT INTO counter (rev) VALUES ('{rev}')\")"
        if slow:
            # Online only: the service renders the plan's SQL offline first (its loss guard),
            # which would sleep as long again before the revision starts.
            body += f"\nimport time\nif not op.get_context().as_sql:\n    time.sleep({slow})"
        undo = f"op.execute(\"DELETE FROM counter WHERE rev = '{rev}'\")"
    migrations.add(rev, down, message=f"count {n}", upgrade=body, downgrade=undo)
    return rev


def counter_rows(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.exec_driver_sql("SELECT rev FROM counter")]
    finally:
        engine.dispose()


@pytest.fixture
def counter_dir(tmp_path):
    return MigrationsDir(tmp_path / "counter")


def serve(database_url, migrations, **env):
    return Gunicorn({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path), **env})


def test_concurrent_upgrades_on_two_servers_apply_each_revision_once(database_url, counter_dir):
    servers = [serve(database_url, counter_dir), serve(database_url, counter_dir)]
    revisions = [counter_revision(counter_dir, 0)]
    try:
        applied_by_answers: list[str] = []
        answers = []
        for round_ in range(ROUNDS):
            start = len(revisions)
            revisions += [counter_revision(counter_dir, start + i) for i in range(PER_ROUND)]

            def call(i: int):
                return servers[i % 2].post("/upgrade", json={"lock_timeout": 30})

            with ThreadPoolExecutor(CONCURRENT) as pool:
                results = list(pool.map(call, range(CONCURRENT)))
            answers += results
            assert {r.status_code for r in results} <= {200, 409}, [r.text for r in results]
            for r in results:
                if r.status_code == 200:
                    applied_by_answers += [s["revision"] for s in r.json()["applied"]]
            assert version_rows(database_url) == {revisions[-1]}, f"round {round_}"

        # Every revision applied exactly once: by the answers, the data, and the log.
        assert sorted(applied_by_answers) == sorted(revisions)
        rows = counter_rows(database_url)
        assert sorted(rows) == sorted(revisions[1:])
        log = servers[0].get("/operations?limit=1000").json()
        logged = [
            s["revision"] for op in log["items"] if op["status"] == "succeeded" for s in op["steps"]
        ]
        assert sorted(logged) == sorted(revisions)
        assert log["total"] == sum(r.status_code == 200 for r in answers)
        no_ops = sum(r.status_code == 200 and not r.json()["applied"] for r in answers)
        print(
            f"{ROUNDS} rounds, {len(answers)} requests, {no_ops} no-op 200s, "
            f"{sum(r.status_code == 409 for r in answers)} 409s, duplicates: "
            f"{len(applied_by_answers) - len(set(applied_by_answers))}"
        )
    finally:
        for server in servers:
            server.stop()


def test_a_server_killed_mid_migration_leaves_a_known_state(database_url, counter_dir):
    first = counter_revision(counter_dir, 0)
    slow = counter_revision(counter_dir, 1, slow=3)
    last = counter_revision(counter_dir, 2)
    server = serve(database_url, counter_dir)
    pool = ThreadPoolExecutor(1)
    try:
        key = {"Idempotency-Key": "deploy-7"}
        pending = pool.submit(server.post, "/upgrade", json={}, headers=key)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ops = server.get("/operations").json()["items"]
            if ops and ops[0]["status"] == "running" and version_rows(database_url) == {first}:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the upgrade never reached the slow revision")
        op_id = ops[0]["id"]
        time.sleep(0.5)  # inside the slow revision, its row inserted but not committed
        server.kill()
        with pytest.raises(requests.ConnectionError):
            pending.result(timeout=30)
    finally:
        pool.shutdown()
        server.stop()

    assert version_rows(database_url) == {first}
    assert counter_rows(database_url) == []
    engine = sa.create_engine(database_url)
    try:
        assert is_free(engine)
    finally:
        engine.dispose()

    server = serve(database_url, counter_dir)
    try:
        op = server.get(f"/operations/{op_id}").json()
        assert op["status"] == "interrupted"
        assert op["actor"] == "tester"
        # Killed inside a revision: where DDL is not transactional, part of it may have run.
        transactional = database_url.startswith("postgresql")
        assert op["partial_possible"] is not transactional
        # The pipeline's retry with its key gets that outcome, not "still running" forever.
        retry = server.post("/upgrade", json={}, headers=key)
        assert retry.status_code == 409, retry.text
        assert retry.json()["type"] == "urn:migrateway:problem:operation-interrupted"
        assert retry.json()["operation_id"] == op_id
        assert retry.json()["partial_possible"] is not transactional
        if not transactional:
            refused = server.post("/upgrade", json={})
            assert refused.status_code == 409 and refused.json()["operation_id"] == op_id
            # The operator finds the slow revision's insert undone, and says so.
            stamp = server.post("/stamp", json={"target": first, "resolves": op_id})
            assert stamp.status_code == 200, stamp.text
        r = server.post("/upgrade", json={})
        assert r.status_code == 200, r.text
        assert [s["revision"] for s in r.json()["applied"]] == [slow, last]
        assert sorted(counter_rows(database_url)) == [slow, last]
    finally:
        server.stop()


def test_concurrent_dry_runs_with_one_idempotency_key_never_answer_5xx(database_url, counter_dir):
    counter_revision(counter_dir, 0)
    server = Gunicorn(
        {"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(counter_dir.path)}, workers=2
    )
    key = {"Idempotency-Key": "dry-1"}
    try:
        with ThreadPoolExecutor(16) as pool:
            answers = list(
                pool.map(
                    lambda _: server.post("/upgrade", json={"sql": True}, headers=key), range(16)
                )
            )
        statuses = sorted(r.status_code for r in answers)
        assert set(statuses) <= {200, 409}, [r.text for r in answers if r.status_code >= 500]
        for r in answers:
            if r.status_code == 409:
                assert r.json()["type"] == "urn:migrateway:problem:operation-in-progress"
        # One operation under that key; every 200 is its answer.
        ops = server.get("/operations").json()
        assert ops["total"] == 1
        assert {r.json()["operation_id"] for r in answers if r.status_code == 200} == {
            ops["items"][0]["id"]
        }
    finally:
        server.stop()


def test_a_lost_database_answers_503_quickly_and_the_service_recovers(
    database_url, counter_dir, network_only
):
    counter_revision(counter_dir, 0)
    url = make_url(database_url)
    proxy = Proxy(server_port(database_url))
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    server = serve(proxied, counter_dir, DB_CONNECT_TIMEOUT="2")
    try:
        assert server.get("/current").status_code == 200
        for mode, bound in (("refuse", 3), ("blackhole", 8)):
            proxy.cut(mode)
            for path in ("/current", "/revisions"):
                start = time.monotonic()
                r = server.get(path)
                took = time.monotonic() - start
                assert r.status_code == 503, (mode, r.text)
                assert r.headers["Content-Type"] == "application/problem+json"
                assert took < bound, (mode, path, took)
            start = time.monotonic()
            r = server.post("/upgrade", json={})
            assert r.status_code == 503 and time.monotonic() - start < bound * 2, r.text
            # No worker hangs: the process still answers at once.
            assert server.get("/health", timeout=1).status_code == 200

        proxy.restore()
        deadline = time.monotonic() + 15
        while server.get("/current").status_code != 200:
            assert time.monotonic() < deadline, "the service did not recover"
            time.sleep(0.2)
        assert server.post("/upgrade", json={}).status_code == 200
    finally:
        server.stop()
        proxy.close()
