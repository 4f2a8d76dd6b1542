"""Webhook deliveries: a row per operation and receiver, in the operation log's store.

The rows are the delivery queue as well as its record: any process may send a pending row
once it is due, after claiming it for the length of one attempt, so a delivery left unmade
by a process that died is made by the next one that looks (api/webhooks/worker.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from api.service.oplog.record import (
    FAILED,
    INTERRUPTED,
    REFUSED,
    SUCCEEDED,
    Operation,
    UtcDateTime,
    _Base,
    from_row,
    now,
    operations,
)
from api.service.oplog.store import LogStore

PENDING, DELIVERED = "pending", "delivered"  # and FAILED, as an operation's


class Delivery(_Base):
    """One operation's event sent to one receiver: where it stands and how its last attempt
    went. The receiver's secret is never kept: its url says which one it was."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (sa.UniqueConstraint("operation_id", "url"),)

    id: Mapped[str] = mapped_column(
        sa.String(36), primary_key=True, default_factory=lambda: str(uuid.uuid4())
    )
    operation_id: Mapped[str] = mapped_column(sa.String(36))
    event: Mapped[str] = mapped_column(sa.String(32))
    url: Mapped[str] = mapped_column(sa.String(512))
    status: Mapped[str] = mapped_column(sa.String(16), index=True, default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    # The last attempt's HTTP status (None: no answer), or what went wrong.
    status_code: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(sa.Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True, default_factory=now)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default_factory=now)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # Until then, the process that claimed the row is attempting it; past it, that process died.
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # What is sent, fixed when the operation ended: every retry sends the same.
    body: Mapped[str] = mapped_column(sa.Text, default="", repr=False)


deliveries = Delivery.__table__
d = deliveries.c
_COLUMNS = {attr.key: attr.columns[0] for attr in sa.inspect(Delivery).column_attrs}
ENDED = (SUCCEEDED, FAILED, INTERRUPTED, REFUSED)


def _delivery(row: sa.Row) -> Delivery:
    return Delivery(**{key: row._mapping[column] for key, column in _COLUMNS.items()})


class Deliveries:
    """The deliveries of one operation log (``store``: its engine, schema and connections)."""

    def __init__(self, store: LogStore):
        self._store = store

    def ended_since(self, since: datetime) -> list[Operation]:
        """Operations that ended since then, dry runs aside (they changed nothing)."""
        if not self._store._exists():
            return []
        c = operations.c
        with self._store._connect() as conn:
            rows = conn.execute(
                operations.select().where(
                    c.status.in_(ENDED), c.sql.is_(False), c.finished_at >= since
                )
            ).all()
        return [from_row(row) for row in rows]

    def made(self, op_ids: list[str]) -> set[tuple[str, str]]:
        """(operation id, url) of the deliveries these operations have."""
        if not op_ids:
            return set()
        with self._store._connect() as conn:
            rows = conn.execute(
                sa.select(d.operation_id, d.url).where(d.operation_id.in_(op_ids))
            ).all()
        return {(row.operation_id, row.url) for row in rows}

    def add(self, delivery: Delivery) -> bool:
        """Record a delivery to make; False when another process recorded it first."""
        self._store.ensure()
        with self._store._connect() as conn:
            try:
                conn.execute(
                    deliveries.insert(),
                    {column.name: getattr(delivery, key) for key, column in _COLUMNS.items()},
                )
                conn.commit()
            except sa.exc.IntegrityError:
                conn.rollback()
                return False
        return True

    def due(self, at: datetime, limit: int = 100) -> list[Delivery]:
        """Pending deliveries whose next attempt is due and that nobody is attempting."""
        if not self._store._exists():
            return []
        with self._store._connect() as conn:
            rows = conn.execute(
                deliveries.select()
                .where(d.status == PENDING, d.next_attempt_at <= at, _unclaimed(at))
                .order_by(d.next_attempt_at)
                .limit(limit)
            ).all()
        return [_delivery(row) for row in rows]

    def next_due(self) -> datetime | None:
        """When the earliest pending delivery is due, and free (a claim ends when its process
        records the attempt, or lapses when that process died)."""
        if not self._store._exists():
            return None
        free_at = sa.case(
            (d.claimed_until > d.next_attempt_at, d.claimed_until), else_=d.next_attempt_at
        )
        with self._store._connect() as conn:
            at = conn.execute(
                sa.select(sa.func.min(free_at).label("at")).where(d.status == PENDING)
            ).scalar()
        # SQLite hands an expression's time back as text, and naive.
        return deliveries.c.next_attempt_at.type.process_result_value(
            datetime.fromisoformat(at) if isinstance(at, str) else at, None
        )

    def claim(self, delivery_id: str, seconds: float) -> bool:
        """Take a due delivery for one attempt of at most ``seconds``; False when another
        process has it, or it is no longer due."""
        at = now()
        with self._store._connect() as conn:
            claimed = conn.execute(
                deliveries.update()
                .where(
                    d.id == delivery_id,
                    d.status == PENDING,
                    d.next_attempt_at <= at,
                    _unclaimed(at),
                )
                .values(claimed_until=at + timedelta(seconds=seconds))
            ).rowcount
            conn.commit()
        return claimed == 1

    def attempted(self, delivery_id: str, **values) -> None:
        """Record an attempt's outcome (``values``: columns) and release the claim."""
        with self._store._connect() as conn:
            conn.execute(
                deliveries.update()
                .where(d.id == delivery_id)
                .values(attempts=d.attempts + 1, claimed_until=None, **values)
            )
            conn.commit()

    def page(self, limit: int, offset: int) -> tuple[list[Delivery], int]:
        """Newest first."""
        if not self._store._exists():
            return [], 0
        with self._store._connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar()
            rows = conn.execute(
                deliveries.select().order_by(d.created_at.desc(), d.id).limit(limit).offset(offset)
            ).all()
        return [_delivery(row) for row in rows], total


def _unclaimed(at: datetime):
    return sa.or_(d.claimed_until.is_(None), d.claimed_until < at)
