"""What the operation log answers: one operation, a page, the running one, figures."""

from __future__ import annotations

import sqlalchemy as sa

from api.service.oplog.record import FAILED, INTERRUPTED, RUNNING, SUCCEEDED, Operation
from api.service.oplog.store import LogStore

# Dry runs only render SQL: they change nothing, so nothing is to recover from or count.
_REAL = Operation.sql.is_(False)


class LogReads(LogStore):
    """Reads never create the log: before its first write, it is empty."""

    def get(self, op_id: str) -> Operation | None:
        if not self._exists():
            return None
        with self._session() as session:
            return session.get(Operation, op_id)

    def by_key(self, key: str) -> Operation | None:
        if not self._exists():
            return None
        return self._first(sa.select(Operation).where(Operation.idempotency_key == key))

    def page(self, limit: int, offset: int) -> tuple[list[Operation], int]:
        """Newest first."""
        if not self._exists():
            return [], 0
        newest_first = Operation.started_at.desc(), Operation.id
        with self._session() as session:
            total = session.scalar(sa.select(sa.func.count()).select_from(Operation))
            items = session.scalars(
                sa.select(Operation).order_by(*newest_first).limit(limit).offset(offset)
            ).all()
        return list(items), total

    def running(self) -> Operation | None:
        if not self._exists():
            return None
        return self._first(
            sa.select(Operation)
            .where(Operation.status == RUNNING)
            .order_by(Operation.started_at.desc())
        )

    def needing_recovery(self) -> Operation | None:
        """The newest operation that stopped part-way through a revision (see
        ``Operation.needs_recovery``), unless a later stamp succeeded (one that predates the
        ``resolves`` field cleared it then)."""
        if not self._exists():
            return None
        with self._session() as session:
            op = session.scalars(
                sa.select(Operation)
                .where(
                    Operation.status.in_((FAILED, INTERRUPTED)),
                    Operation.partial_possible.is_(True),
                    Operation.resolved_by.is_(None),
                )
                .order_by(Operation.started_at.desc())
                .limit(1)
            ).first()
            if op is None:
                return None
            stamped_since = session.scalar(
                sa.select(Operation.id)
                .where(Operation.kind == "stamp", Operation.status == SUCCEEDED, _REAL)
                .where(Operation.started_at > op.started_at)
                .limit(1)
            )
        return None if stamped_since else op

    def stats(self) -> dict:
        """Aggregates of the operations that ran against the database (dry runs excluded):
        ``counts`` {(kind, status): n}, ``seconds`` {kind: total duration of finished ones},
        ``lock_waits`` (n, total seconds).

        Computed from the shared log, so every worker and replica reports the same figures.
        """
        result: dict = {"counts": {}, "seconds": {}, "lock_waits": (0, 0.0)}
        if not self._exists():
            return result
        op = Operation
        with self._connect() as conn:
            for kind, status, n in conn.execute(
                sa.select(op.kind, op.status, sa.func.count())
                .where(_REAL)
                .group_by(op.kind, op.status)
            ):
                result["counts"][kind, status] = n
            for kind, begin, end in conn.execute(
                sa.select(op.kind, op.started_at, op.finished_at).where(
                    _REAL, op.finished_at.is_not(None)
                )
            ):
                elapsed = (end - begin).total_seconds()
                result["seconds"][kind] = result["seconds"].get(kind, 0.0) + elapsed
            n, total_ms = conn.execute(
                sa.select(sa.func.count(op.lock_wait_ms), sa.func.sum(op.lock_wait_ms)).where(_REAL)
            ).one()
            result["lock_waits"] = (n, (total_ms or 0.0) / 1000)
        return result

    def _first(self, query: sa.Select) -> Operation | None:
        with self._session() as session:
            return session.scalars(query).first()
