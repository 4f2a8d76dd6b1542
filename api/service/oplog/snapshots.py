"""The schema picture taken when an operation ended, one per bind (the latest), kept beside
the operation log so that every replica compares the live schema with the same one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from api.service.oplog.record import Operation, UtcDateTime, now
from api.service.oplog.store import LogStore

# On the log's own MetaData: created with the log, out of sight of the users' autogenerate.
schema_snapshots = sa.Table(
    "schema_snapshots",
    Operation.metadata,
    sa.Column("bind", sa.String(64), primary_key=True),
    sa.Column("operation_id", sa.String(36), nullable=True),
    sa.Column("taken_at", UtcDateTime, nullable=False),
    sa.Column("snapshot", sa.Text, nullable=False),
)


@dataclass(frozen=True)
class Snapshot:
    bind: str
    operation_id: str | None
    taken_at: datetime
    picture: dict  # api/service/schema_snapshot.py's


def save(log: LogStore, bind: str, operation_id: str | None, picture: dict) -> None:
    """Keep ``picture`` as ``bind``'s latest, in place of the one before."""
    _ensure(log)
    with log._connect() as conn:
        conn.execute(schema_snapshots.delete().where(schema_snapshots.c.bind == bind))
        conn.execute(
            schema_snapshots.insert().values(
                bind=bind, operation_id=operation_id, taken_at=now(), snapshot=json.dumps(picture)
            )
        )
        conn.commit()


def latest(log: LogStore, bind: str) -> Snapshot | None:
    """``bind``'s latest picture; None before the first (reads never create the table)."""
    if not _exists(log):
        return None
    with log._connect() as conn:
        row = conn.execute(schema_snapshots.select().where(schema_snapshots.c.bind == bind)).first()
    if row is None:
        return None
    return Snapshot(row.bind, row.operation_id, row.taken_at, json.loads(row.snapshot))


def _exists(log: LogStore) -> bool:
    if getattr(log, "_snapshots_ready", False):
        return True
    if not log._exists():
        return False
    with log._connect() as conn:
        found = sa.inspect(conn).has_table("schema_snapshots", schema=log._schema)
    log._snapshots_ready = found
    return found


def _ensure(log: LogStore) -> None:
    """The table is on the log's MetaData: the log makes it with its own, and adds it to a log
    made by an earlier version (store.py) without racing another process for it."""
    if getattr(log, "_snapshots_ready", False):
        return
    log.ensure()
    log._snapshots_ready = True
