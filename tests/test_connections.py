"""Connections to the target database: reads keep one per thread, closed when the thread ends
or the engine is disposed; connections that died behind the service's back (a database
restart, a proxy that dropped them) cost no failed request, read or write."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from api import create_app, db
from api.service import fast_current
from tests.revision_graph import BASE, SECOND, TIP
from tests.tokens import authorized

# Every session on the test's database but the asking one, by server.
OTHER_SESSIONS = {
    "postgresql": "SELECT pid FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()",
    "mysql": "SELECT id FROM information_schema.processlist"
    " WHERE db = DATABASE() AND id <> CONNECTION_ID()",
}
END_SESSION = {"postgresql": "SELECT pg_terminate_backend({})", "mysql": "KILL {}"}


def other_sessions(url: str, end: bool = False) -> int:
    """How many other sessions the test's database has; with ``end``, end each of them first,
    as a restart would."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            server = engine.dialect.name
            ids = conn.exec_driver_sql(OTHER_SESSIONS[server]).scalars().all()
            for session in ids if end else ():
                conn.exec_driver_sql(END_SESSION[server].format(int(session)))
            return len(ids)
    finally:
        engine.dispose()


def test_a_read_right_after_its_connection_died_still_answers(client, database_url, network_only):
    assert client.post("/upgrade", json={"target": SECOND}).status_code == 200
    assert client.get("/current").get_json()["current"] == [SECOND]
    assert other_sessions(database_url, end=True) >= 1

    r = client.get("/current")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["current"] == [SECOND]
    assert client.get("/revisions?limit=1").status_code == 200


def test_a_write_after_its_pooled_connections_died_still_runs(client, database_url, network_only):
    assert client.post("/upgrade", json={"target": BASE}).status_code == 200
    assert other_sessions(database_url, end=True) >= 1

    r = client.post("/upgrade")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["to"] == [TIP]
    assert client.get("/current").get_json()["current"] == [TIP]
    (op,) = [o for o in client.get("/operations").get_json()["items"] if o["to"] == [TIP]]
    assert op["status"] == "succeeded"


def test_each_reading_thread_has_a_connection_closed_when_it_ends_or_on_dispose(
    migrations, database_url, network_only
):
    app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
    client = authorized(app.test_client())
    assert client.post("/upgrade", json={"target": BASE}).status_code == 200
    assert client.get("/current").get_json()["current"] == [BASE]
    before = other_sessions(database_url)
    together = threading.Barrier(4)

    def read(_) -> list[str]:
        together.wait(timeout=10)  # four threads reading at once
        return authorized(app.test_client()).get("/current").get_json()["current"]

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(read, range(4))) == [[BASE]] * 4
        assert other_sessions(database_url) >= 4 + 1  # the four threads' and the main thread's
    assert other_sessions(database_url) <= before  # the threads ended: their connections closed

    with app.app_context():
        db.engine.dispose()
    assert other_sessions(database_url) == 0


def test_closing_connections_while_threads_read_costs_no_failed_read(
    migrations, database_url, network_only
):
    app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
    assert authorized(app.test_client()).post("/upgrade", json={"target": BASE}).status_code == 200
    done = threading.Event()

    def read_until_done(_) -> set[tuple[int, str]]:
        client, seen = authorized(app.test_client()), set()
        while not done.is_set():
            r = client.get("/current")
            seen.add((r.status_code, ",".join(r.get_json()["current"])))
        return seen

    with app.app_context():
        engine = db.engine
    # What engine.dispose() does to the threads' connections, without its replacing the pool:
    # a pooled connection checked out across that returns to the old pool, which SQLAlchemy
    # leaves to the garbage collector (the driver then warns, in whichever test is running).
    # That dispose calls this is checked above.
    kept = fast_current.for_engine(engine)
    with ThreadPoolExecutor(4) as pool:
        answers = pool.map(read_until_done, range(4))
        for _ in range(20):  # each time, the threads' connections are closed under them
            kept.close_all()
            threading.Event().wait(0.02)
        done.set()
        assert set().union(*answers) == {(200, BASE)}
    with app.app_context():
        db.engine.dispose()
