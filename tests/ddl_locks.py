"""The DDL lock timeout tests' migrations (accounts with rows, then a revision that alters it)
and another session's lock that the ALTER TABLE waits for."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from tests.revision_graph import MigrationsDir

ACCOUNTS, ALTER, INDEX = "a0000000001", "a0000000002", "a0000000003"

CREATE_ACCOUNTS = """op.create_table('accounts', sa.Column('id', sa.Integer, primary_key=True),
    sa.Column('name', sa.String(50)))
op.execute("INSERT INTO accounts (id, name) VALUES (1, 'ann'), (2, 'bob'), (3, 'ann')")"""
ADD_NOTE = "op.add_column('accounts', sa.Column('note', sa.Text))"


def accounts_then_note(path) -> MigrationsDir:
    """accounts (with rows, a name twice), then a revision that alters it."""
    migrations = MigrationsDir(path)
    migrations.add(
        ACCOUNTS,
        None,
        message="accounts",
        upgrade=CREATE_ACCOUNTS,
        downgrade="op.drop_table('accounts')",
    )
    migrations.add(
        ALTER,
        ACCOUNTS,
        message="note on accounts",
        upgrade=ADD_NOTE,
        downgrade="op.drop_column('accounts', 'note')",
    )
    return migrations


def _service(app):
    return app.extensions["migrateway"]


@contextmanager
def held_lock(database_url: str) -> Iterator[threading.Event]:
    """Another session reading accounts in an open transaction: ALTER TABLE waits for it
    (PostgreSQL ACCESS SHARE, MariaDB a shared metadata lock). Set the event to end it."""
    engine = sa.create_engine(database_url)
    release = threading.Event()
    started = threading.Event()

    def hold():
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT * FROM accounts")).all()
            started.set()
            release.wait(30)
            conn.rollback()

    thread = threading.Thread(target=hold)
    thread.start()
    started.wait(10)
    try:
        yield release
    finally:
        release.set()
        thread.join()
        engine.dispose()


def release_after_first_retry(app, release: threading.Event) -> threading.Thread:
    """Free the lock once the operation log shows a retry (while the write waits its backoff)."""
    log = _service(app).oplog

    def watch():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not release.is_set():
            running = log.running()
            if running is not None and running.retries:
                release.set()
            time.sleep(0.02)

    thread = threading.Thread(target=watch)
    thread.start()
    return thread


def columns(database_url: str) -> set[str]:
    engine = sa.create_engine(database_url)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns("accounts")}
    finally:
        engine.dispose()
