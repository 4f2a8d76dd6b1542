"""Rollouts and their targets: rows in the operation log's store (DATABASE_URL's).

These rows are the whole state of a rollout. The process that drives it (api/rollouts/
coordinator.py) and the processes that run its targets (api/rollouts/job.py) write them and
read them; nothing is kept in memory that a crash could lose. A driver proves it is alive by
its heartbeat: a rollout still `running` whose heartbeat stopped was interrupted, and is
resumed by whoever takes it over (:meth:`Rollouts.take_over`).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from api.service.oplog.record import UtcDateTime, _Base, now
from api.service.oplog.store import LogStore

# A rollout's status, and a target's (PENDING: not started).
RUNNING, HALTED, SUCCEEDED, FAILED, CANCELLED = (
    "running",
    "halted",
    "succeeded",
    "failed",
    "cancelled",
)
PENDING, INTERRUPTED = "pending", "interrupted"
# A driver writes its heartbeat this often (seconds); one silent for STALE is gone.
HEARTBEAT, STALE = 1.0, 5.0


class Rollout(_Base):
    """One change asked of many targets."""

    __tablename__ = "rollouts"

    id: Mapped[str] = mapped_column(
        sa.String(36), primary_key=True, default_factory=lambda: str(uuid.uuid4())
    )
    action: Mapped[str] = mapped_column(sa.String(16))
    target: Mapped[str] = mapped_column(sa.String(255))
    actor: Mapped[str] = mapped_column(sa.String(255))
    parallelism: Mapped[int] = mapped_column()
    on_failure: Mapped[str] = mapped_column(sa.String(16))
    # The waves as asked ([1, "10%", "100%"]): each target's row says which one it is in.
    waves: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), index=True, default=RUNNING)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True, default_factory=now)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default_factory=now)


class RolloutTarget(_Base):
    """One target of a rollout: where its run stands."""

    __tablename__ = "rollout_targets"

    rollout_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    wave: Mapped[int] = mapped_column()
    position: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(sa.String(16), default=PENDING)
    # Each run of the target has a key of its own: a failed target runs again on resume.
    attempt: Mapped[int] = mapped_column(default=0)
    operation_id: Mapped[str | None] = mapped_column(sa.String(36), default=None)
    error: Mapped[str | None] = mapped_column(sa.Text, default=None)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


rollouts, rollout_targets = Rollout.__table__, RolloutTarget.__table__
r, t = rollouts.c, rollout_targets.c


def _row(cls, row: sa.Row):
    return cls(**{c.key: row._mapping[c] for c in cls.__table__.columns})


class Rollouts:
    """The rollouts of one store (DATABASE_URL's operation log)."""

    def __init__(self, store: LogStore):
        self._store = store

    def create(self, rollout: Rollout, targets: list[RolloutTarget]) -> None:
        """Record a rollout and every target it names, not started."""
        self._store.ensure()
        with self._store._connect() as conn:
            conn.execute(rollouts.insert(), [_values(rollout)])
            conn.execute(rollout_targets.insert(), [_values(x) for x in targets])
            conn.commit()

    def get(self, rollout_id: str) -> Rollout | None:
        if not self._store._exists():
            return None
        with self._store._connect() as conn:
            row = conn.execute(rollouts.select().where(r.id == rollout_id)).first()
        return _row(Rollout, row) if row is not None else None

    def page(self, limit: int, offset: int) -> tuple[list[Rollout], int]:
        """The newest rollouts first, and how many there are."""
        if not self._store._exists():
            return [], 0
        with self._store._connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(rollouts)).scalar()
            rows = conn.execute(
                rollouts.select().order_by(r.created_at.desc()).limit(limit).offset(offset)
            ).all()
        return [_row(Rollout, row) for row in rows], total

    def targets(self, rollout_id: str, names: list[str] | None = None) -> list[RolloutTarget]:
        """A rollout's targets in their order (only ``names`` when given)."""
        query = rollout_targets.select().where(t.rollout_id == rollout_id)
        if names is not None:
            query = query.where(t.name.in_(names))
        with self._store._connect() as conn:
            rows = conn.execute(query.order_by(t.position)).all()
        return [_row(RolloutTarget, row) for row in rows]

    def counts(self, rollout_ids: list[str]) -> dict[str, dict[str, int]]:
        """Per rollout, how many of its targets are in each status."""
        if not rollout_ids:
            return {}
        with self._store._connect() as conn:
            rows = conn.execute(
                sa.select(t.rollout_id, t.status, sa.func.count())
                .where(t.rollout_id.in_(rollout_ids))
                .group_by(t.rollout_id, t.status)
            ).all()
        counts: dict[str, dict[str, int]] = {i: {} for i in rollout_ids}
        for rollout_id, status, count in rows:
            counts[rollout_id][status] = count
        return counts

    def update_target(self, rollout_id: str, name: str, **values) -> None:
        """Write what a target's run says of it."""
        with self._store._connect() as conn:
            conn.execute(
                rollout_targets.update()
                .where(t.rollout_id == rollout_id, t.name == name)
                .values(**values)
            )
            conn.commit()

    def interrupt(self, rollout_id: str, name: str, error: str) -> bool:
        """Write a `running` target interrupted, saying why; False (nothing written) when it
        is not running. One conditional update, not a read then a write: the process that ran
        the target may write how it ended at the same moment, and its word wins."""
        with self._store._connect() as conn:
            written = conn.execute(
                rollout_targets.update()
                .where(t.rollout_id == rollout_id, t.name == name, t.status == RUNNING)
                .values(status=INTERRUPTED, error=error, finished_at=now())
            ).rowcount
            conn.commit()
        return written == 1

    def update(self, rollout_id: str, **values) -> None:
        with self._store._connect() as conn:
            conn.execute(rollouts.update().where(r.id == rollout_id).values(**values))
            conn.commit()

    def ended_since(self, since: datetime) -> list[Rollout]:
        """Rollouts that ended (or halted) since then."""
        if not self._store._exists():
            return []
        ended = (SUCCEEDED, FAILED, HALTED, CANCELLED)
        with self._store._connect() as conn:
            rows = conn.execute(
                rollouts.select().where(r.status.in_(ended), r.finished_at >= since)
            ).all()
        return [_row(Rollout, row) for row in rows]

    def take_over(self, rollout_id: str, resumable: tuple[str, ...]) -> bool:
        """Become the driver of a rollout that is in a ``resumable`` status, or `running`
        with a driver gone silent; False when another process drives it (or took it first:
        the update is conditional, so two takers never both win)."""
        at = now()
        gone = sa.and_(r.status == RUNNING, r.heartbeat_at < at - timedelta(seconds=STALE))
        with self._store._connect() as conn:
            taken = conn.execute(
                rollouts.update()
                .where(r.id == rollout_id, sa.or_(r.status.in_(resumable), gone))
                .values(status=RUNNING, heartbeat_at=at, finished_at=None, cancel_requested=False)
            ).rowcount
            conn.commit()
        return taken == 1


def _values(obj) -> dict:
    return {c.name: getattr(obj, c.key) for c in type(obj).__table__.columns}


def driver_gone(rollout: Rollout, at: datetime | None = None) -> bool:
    """Whether a `running` rollout has lost its driver (its heartbeat stopped)."""
    if rollout.status != RUNNING or rollout.heartbeat_at is None:
        return False
    return rollout.heartbeat_at < (at or now()) - timedelta(seconds=STALE)
