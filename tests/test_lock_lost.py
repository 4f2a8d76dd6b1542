"""A migration lock whose session dies: the chain stops, and no second chain overlaps it.

Two servers on one database. Server A runs a slow revision; the lock's database session is
killed as an operator, ``idle_session_timeout`` or a proxy would; then server B is asked to
upgrade. Each revision notes in a file when it starts and when it ends or dies (its database
session checked every 50 ms), so overlapping work shows, whatever was rolled back later.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from api.service.lock import is_free
from tests.databases import tables, version_rows
from tests.revision_graph import MigrationsDir
from tests.servers import Gunicorn

pytestmark = pytest.mark.usefixtures("network_only")

REVISIONS = ("aa0000000000", "bb0000000000", "cc0000000000")
SLOW = REVISIONS[1]

NOTED = """import json, os, time
def note(event):
    with open(os.environ["MW_TEST_MARKERS"], "a") as f:
        f.write(json.dumps({{"rev": {rev!r}, "pid": os.getpid(), "event": event,
                            "at": time.time()}}) + "\\n")
note("start")
try:
    for _ in range({ticks}):
        op.execute(
            "SELECT pg_sleep(0.05)" if op.get_bind().dialect.name == "postgresql"
            else "SELECT SLEEP(0.05)"
        )
    op.execute("INSERT INTO counter (rev) VALUES ('{rev}')")
    op.create_table("t_{rev}", sa.Column("id", sa.Integer))
except BaseException:
    note("died")
    raise
note("end")"""


@pytest.fixture
def noted_dir(tmp_path):
    """r0 creates the counter; each revision counts itself and creates its table; r1 is slow
    (1.5 s of ticks: the kill lands within a tick or two of the first)."""
    migrations = MigrationsDir(tmp_path / "noted")
    down = None
    for rev in REVISIONS:
        upgrade = NOTED.format(rev=rev, ticks=30 if rev == SLOW else 1)
        if down is None:
            upgrade = "op.create_table('counter', sa.Column('rev', sa.String(32)))\n" + upgrade
        migrations.add(rev, down, upgrade=upgrade, downgrade="pass")
        down = rev
    return migrations


def intervals(markers) -> list[tuple[float, float, int, str]]:
    """(start, end or death, pid, revision) of every revision run, as the revisions noted."""
    lines = [json.loads(line) for line in markers.read_text().splitlines()]
    starts = {(m["pid"], m["rev"]): m["at"] for m in lines if m["event"] == "start"}
    return [
        (starts[m["pid"], m["rev"]], m["at"], m["pid"], m["rev"])
        for m in lines
        if m["event"] != "start"
    ]


def kill_lock_session(url: str, every_holder: bool) -> int:
    """End the session holding the migration lock: on PostgreSQL every advisory lock holder in
    the database (the admission lock only, unless ``every_holder``); on MariaDB the holder of
    the lock's name. Returns how many sessions were ended."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    database = engine.url.database
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                # The migration's own session last ran pg_sleep (the slow revision's tick).
                admission_only = (
                    ""
                    if every_holder
                    else "AND pid <> ALL(SELECT pid FROM pg_stat_activity WHERE query LIKE :sleep)"
                )
                return len(
                    conn.execute(
                        sa.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_locks "
                            "WHERE locktype = 'advisory' AND database = "
                            "(SELECT oid FROM pg_database WHERE datname = :db) " + admission_only
                        ),
                        {"db": database, "sleep": "%pg_sleep(0.05)%"},
                    ).all()
                )
            holder = conn.exec_driver_sql(f"SELECT IS_USED_LOCK('migrateway:{database}')").scalar()
            conn.exec_driver_sql(f"KILL {int(holder)}")
            return 1
    finally:
        engine.dispose()


def ticking(url: str) -> bool:
    """Whether a session on the database is in the slow revision's ticks (on PostgreSQL, the
    last statement kill_lock_session tells the migration's own session by)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                query = (
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND query LIKE :sleep"
                )
                tick = "%pg_sleep(0.05)%"
            else:
                query = (
                    "SELECT COUNT(*) FROM information_schema.processlist WHERE db = DATABASE()"
                    " AND id <> CONNECTION_ID() AND info LIKE :sleep"
                )
                tick = "%SLEEP(0.05)%"
            return conn.execute(sa.text(query), {"sleep": tick}).scalar() > 0
    finally:
        engine.dispose()


def test_a_killed_lock_session_never_lets_two_chains_overlap(database_url, noted_dir, tmp_path):
    killed_lock_session_scenario(database_url, noted_dir, tmp_path, every_holder=False)


def test_terminating_every_advisory_lock_holder_stops_the_migration_with_it(
    database_url, noted_dir, tmp_path, postgresql_only
):
    # The issue's own query ends the migration's session too: its revision rolls back.
    killed_lock_session_scenario(database_url, noted_dir, tmp_path, every_holder=True)


def killed_lock_session_scenario(database_url, noted_dir, tmp_path, every_holder: bool) -> None:
    """A slow upgrade on server A, the lock's session killed, an upgrade asked of server B."""
    markers = tmp_path / "markers.jsonl"
    markers.touch()
    env = {
        "DATABASE_URL": database_url,
        "MIGRATIONS_DIR": str(noted_dir.path),
        "MW_TEST_MARKERS": str(markers),
    }
    a, b = Gunicorn(env), Gunicorn(env)
    pool = ThreadPoolExecutor(1)
    try:
        first = pool.submit(a.post, "/upgrade", json={})
        deadline = time.monotonic() + 20
        while f'"rev": "{SLOW}"' not in markers.read_text() or not ticking(database_url):
            assert time.monotonic() < deadline, "the slow revision never started ticking"
            time.sleep(0.02)
        assert kill_lock_session(database_url, every_holder) >= 1
        second = b.post("/upgrade", json={"lock_timeout": 30})
        first = first.result(timeout=60)

        # Server A stopped with a clear failure; server B finished the work.
        assert first.status_code in (409, 422), first.text
        assert first.headers["Content-Type"] == "application/problem+json"
        if not every_holder:
            assert first.json()["type"] == "urn:migrateway:problem:lock-lost", first.text
        assert second.status_code == 200, second.text
        assert second.json()["to"] == [REVISIONS[-1]]

        # No two revisions ran at once, and each is in the database exactly once.
        runs = sorted(intervals(markers))
        for (_, end, pid, rev), (start, _, other, rev2) in zip(runs, runs[1:], strict=False):
            assert end <= start, f"{rev} in {pid} overlapped {rev2} in {other}: {runs}"
        engine = sa.create_engine(database_url)
        try:
            with engine.connect() as conn:
                counted = sorted(r[0] for r in conn.exec_driver_sql("SELECT rev FROM counter"))
            assert is_free(engine)
        finally:
            engine.dispose()
        assert counted == sorted(REVISIONS)
        assert version_rows(database_url) == {REVISIONS[-1]}
        assert {f"t_{r}" for r in REVISIONS} <= tables(database_url)

        # The log tells the same story: A's completed steps, then B's, make the chain once.
        a_op = b.get(f"/operations/{first.json()['operation_id']}").json()
        b_op = b.get(f"/operations/{second.json()['operation_id']}").json()
        assert a_op["status"] == "failed" and b_op["status"] == "succeeded"
        assert a_op["partial_possible"] is False
        done = [s["revision"] for s in first.json()["completed"]]
        assert [s["revision"] for s in a_op["steps"]] == done
        assert done + [s["revision"] for s in second.json()["applied"]] == list(REVISIONS)
        assert a_op["to"] == (done[-1:] if done else [])
        ops = b.get("/operations").json()["items"]
        assert not [op for op in ops if op["status"] == "running"]
    finally:
        pool.shutdown()
        a.stop()
        b.stop()
