"""OperationLog: recording an operation's start, progress, end and answer, over the reads."""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa

from api import exceptions
from api.service.oplog.applied import AppliedLog, RevisionChanges
from api.service.oplog.reads import LogReads
from api.service.oplog.record import (
    INTERRUPTED,
    QUEUED,
    REFUSED,
    RUNNING,
    Operation,
    now,
    operations,
    to_row,
)
from api.service.results import StepResult


class OperationLog(LogReads, AppliedLog):
    """Reads and writes the operation log of one target database."""

    # Called (with no argument, and without waiting on anything) when an operation has ended:
    # the webhooks' worker wakes up and looks (api/webhooks/worker.py).
    on_end: Callable[[], None] | None = None

    def start(
        self,
        *,
        kind,
        actor,
        target,
        sql,
        from_,
        client_address,
        idempotency_key,
        request_hash,
        lock_wait_ms=None,
        steps_total=None,
        resolves=None,
        binds=None,
        acknowledged=None,
        accepted_changed=None,
        queued: str | None = None,
    ) -> Operation:
        """Record an operation as running; called before its first statement runs. One that
        was ``queued`` (its id) is that record, taken from the queue.

        :raises AlreadyDone: another request with this Idempotency-Key was recorded first
            (a second line of defence: the lock serializes them), or the ``queued`` one was
            taken already (a queue delivers at least once).
        """
        self.ensure()
        op = Operation(
            kind=kind,
            actor=actor,
            target=target,
            sql=sql,
            from_=tuple(from_),
            client_address=client_address,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            lock_wait_ms=lock_wait_ms,
            steps_total=steps_total,
            steps_done=0,
            resolves=resolves,
            binds=binds,
            acknowledged=acknowledged,
            accepted_changed=accepted_changed,
        )
        return self._insert(op) if queued is None else self._take(queued, op)

    def _insert(self, op: Operation) -> Operation:
        with self._connect() as conn:
            try:
                conn.execute(operations.insert(), to_row(op))
                conn.commit()
            except sa.exc.IntegrityError:
                conn.rollback()
                first = self.by_key(op.idempotency_key) if op.idempotency_key else None
                if first is None:
                    raise
                raise exceptions.AlreadyDone(first) from None
        return op

    def queue(self, *, kind, actor, target, sql, client_address, idempotency_key, request_hash):
        """Record an operation as queued: asked for, not yet taken by a worker.

        :raises AlreadyDone: another request with this Idempotency-Key was recorded first.
        """
        self.ensure()
        op = Operation(
            kind=kind,
            actor=actor,
            target=target,
            sql=sql,
            from_=(),
            status=QUEUED,
            client_address=client_address,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )
        return self._insert(op)

    def _take(self, queued: str, op: Operation) -> Operation:
        # The queued record becomes the running one: its id, key, asker and answer stay.
        c = operations.c
        kept = {"id", "idempotency_key", "request_hash", "client_address", "actor"}
        kept |= {"response_status", "response_body"}
        values = {k: v for k, v in to_row(op).items() if k not in kept}
        with self._connect() as conn:
            taken = conn.execute(
                operations.update().where(c.id == queued, c.status == QUEUED).values(values)
            ).rowcount
            conn.commit()
        if not taken:
            raise exceptions.AlreadyDone(self.get(queued))
        return self.get(queued)

    def refuse(self, op_id: str, problem: dict) -> bool:
        """End a queued operation refused with ``problem``, unless a worker took it first."""
        c = operations.c
        with self._connect() as conn:
            done = conn.execute(
                operations.update()
                .where(c.id == op_id, c.status == QUEUED)
                .values(
                    status=REFUSED, problem=problem, error=problem.get("detail"), finished_at=now()
                )
            ).rowcount
            conn.commit()
        if done:
            self._ended()
        return bool(done)

    def unqueue(self, op_id: str) -> None:
        """Forget a queued operation the queue never took (nothing of it ran)."""
        c = operations.c
        with self._connect() as conn:
            conn.execute(operations.delete().where(c.id == op_id, c.status == QUEUED))
            conn.commit()

    def finish(
        self,
        op_id: str,
        *,
        status: str,
        to,
        steps: list[StepResult],
        error=None,
        failed_revision=None,
        partial_possible=False,
        resolves=None,
        binds=None,
        revisions: RevisionChanges | None = None,
    ) -> None:
        """Record how an operation ended; if the database cannot take it now, as soon as it can
        (the caller's answer stands either way). A stamp that ``resolves`` a recovery marks
        that operation resolved by it (written first). The ``revisions`` it applied and
        reverted are recorded in the same transaction as its end."""
        if resolves is not None:
            self._unwritten.update(resolves, {"resolved_by": op_id})
        self._unwritten.update(
            op_id,
            {
                "status": status,
                "to_revisions": tuple(to) if to is not None else None,
                "steps": list(steps),
                "error": error,
                "failed_revision": failed_revision,
                "partial_possible": partial_possible,
                "finished_at": now(),
                # Several databases: a revision run on each bind is a step of each.
                "steps_done": len(steps)
                if binds is None
                else sum(len(bind["steps"]) for bind in binds.values()),
                "running_revision": None,
                **({"binds": binds} if binds is not None else {}),
            },
            also=revisions.write if revisions else None,
        )
        self._ended()

    def settle(self, op_id: str, seconds: float = 2.0) -> None:
        """Try for up to ``seconds`` to write what is kept of ``op_id`` (its ending, when the
        database could not take it at once); past that, it stays kept for the retries."""
        deadline = time.monotonic() + seconds
        while self._unwritten.holds(op_id) and time.monotonic() < deadline:
            try:
                with self._connect():
                    pass
            except exceptions.DatabaseUnavailable:
                time.sleep(0.1)

    def progress(self, op_id: str, steps_done: int, running_revision: str | None) -> None:
        """Record how far a running operation has come (if the database can take it: a
        migration does not stop for its progress report, and finish() says it all)."""
        try:
            with self._connect() as conn:
                conn.execute(
                    operations.update()
                    # A late write must not undo finish().
                    .where(operations.c.id == op_id, operations.c.status == RUNNING)
                    .values(steps_done=steps_done, running_revision=running_revision)
                )
                conn.commit()
        except exceptions.DatabaseUnavailable:
            pass

    def retried(self, op_id: str, retries: list[dict]) -> None:
        """Record the retries of a running operation so far (see api/service/ddl_timeouts.py);
        if the database cannot take it now, as soon as it can."""
        self._unwritten.update(op_id, {"retries": list(retries)})

    def save_response(self, op_id: str, status: int, body: str) -> None:
        """Keep the answer given, so a retry with the same Idempotency-Key gets it again;
        if the database cannot take it now, as soon as it can."""
        self._unwritten.update(op_id, {"response_status": status, "response_body": body})

    def mark_interrupted(self, transactional_ddl: bool) -> int:
        """Mark every running operation interrupted; call only while holding the lock,
        which proves that none of them is still running.

        Without ``transactional_ddl``, one that had begun a revision may have left part of it
        applied: it is marked ``partial_possible`` (its first revision's start is always
        written, see api/service/progress.py; a stamp changes only the version table).
        """
        if not self._exists():
            return 0
        c = operations.c
        began_revision = sa.and_(
            c.kind != "stamp", c.sql.is_(False), c.running_revision.is_not(None)
        )
        with self._connect() as conn:
            count = conn.execute(
                operations.update()
                .where(c.status == RUNNING)
                .values(
                    status=INTERRUPTED,
                    finished_at=now(),
                    partial_possible=sa.false() if transactional_ddl else began_revision,
                    error="The process running it stopped before it finished.",
                )
            ).rowcount
            conn.commit()
        if count:
            self._ended()
        return count

    def _ended(self) -> None:
        if self.on_end is not None:
            self.on_end()
