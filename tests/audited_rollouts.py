"""Rollouts' test helpers: revisions that write to an insert-only audit table (a revision that
ran twice shows twice), a rollout service on six SQLite tenants, and waiting for a rollout."""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from api import create_app, db
from tests.revision_graph import MigrationsDir

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


def sqlite_tenants(tmp_path) -> dict[str, str]:
    """Six SQLite tenants, name -> URL."""
    return {f"t{i}": f"sqlite:///{tmp_path / f't{i}.sqlite'}" for i in range(6)}


def rollout_app(migrations: MigrationsDir, tenants: dict[str, str], tmp_path):
    """The service with ``tenants`` as its targets, on a control database of its own; close()
    it after the test."""
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'control.sqlite'}",
            "MIGRATIONS_DIR": str(migrations.path),
            "MIGRATEWAY_TARGETS": json.dumps([{"name": n, "url": u} for n, u in tenants.items()]),
            # One process: these tests are about order and state, not speed (each spawned
            # process imports the service first).
            "ROLLOUT_WORKERS": 1,
        }
    )


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
