"""DDL lock timeouts: a revision's statement that waits too long for a table lock gives up, and
the revision is retried with backoff while nothing of it can have stayed in the database.

An ``ALTER TABLE`` queued behind a long query blocks every later reader of that table for as
long as it waits. With a timeout it gives up instead, the readers go on, and the revision is
tried again a little later. The timeout is a session setting of the connection env.py migrates
on, set once before any step: PostgreSQL reverts a ``SET`` only with a transaction that rolls
back, and that ends the chain anyway, so one statement covers every revision whatever
transaction layout env.py chose, and the statements of an ``autocommit_block()`` too (``SET
LOCAL`` in each revision's transaction would miss those). SQLite has no lock timeout to set.

A retry re-runs env.py, which plans the steps from where the database is: the failed revision
when its work rolled back (one transaction per revision), or the chain's first when env.py ran
the whole chain in one transaction (which rolled back with it). A revision is retried only when
nothing of it can have stayed behind: no commit while it ran (an ``autocommit_block()``
commits), no statement that changes anything on a database without transactional DDL
(MariaDB: so only when the timeout struck its first such statement), and the version table
read back says it did not run. The migration lock stays held across retries. (Statements a
revision sends on a raw driver cursor escape the watch: on MariaDB, a revision that writes so
before its DDL should not be given retries.)

Only a timeout this write set is retried; one write on several databases is never retried.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from alembic.ddl.impl import DefaultImpl
from sqlalchemy import Connection, Engine, event

from api import exceptions
from api.service.bind_runs import committed
from api.service.database import describe_error
from api.service.ddl_locks import DdlLockPolicy, is_lock_timeout, session_settings
from api.service.graph import RevisionGraph
from api.service.invalid_indexes import IndexCheck
from api.service.lock import LockLost
from api.service.results import StepResult
from api.service.runner import StepsFailed, StepTimer, elapsed_ms

if TYPE_CHECKING:
    from api.service import MigrationService

# Backoff before retry n (1, 2, ...): BACKOFF_SECONDS doubling, at most BACKOFF_CAP, each
# drawn in [half, all] of that ("equal jitter"), so that two services retrying against the
# same long query do not come back in step.
BACKOFF_SECONDS = 0.5
BACKOFF_CAP = 8.0
# Statements that change nothing (Alembic's reflection, our own settings).
_READS = ("SELECT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "SET")
# How long a retry waits for the run lock of the previous attempt's session to be released:
# its server process ends just after the client closed the connection.
_RUN_LOCK_WAIT = 2.0

log = logging.getLogger(__name__)


class LockTimeouts:
    """One write's lock timeouts: set on each connection env.py migrates on, and the run
    retried while that is safe. ``retries`` holds each retry, as the answer and the log show it.

    ``read_heads`` reads the database's revisions back after a failed attempt; ``on_retry`` is
    told of each retry as it happens (the operation log shows them while the write runs).
    """

    def __init__(
        self,
        policy: DdlLockPolicy,
        timer: StepTimer,
        *,
        graph: RevisionGraph,
        kind: str,
        engine: Engine,
        read_heads: Callable[[], tuple[str, ...]],
        several_databases: bool = False,
        on_retry: Callable[[list[dict]], None] = lambda retries: None,
    ):
        self.policy, self.timer = policy, timer
        self.graph, self.kind, self.read_heads = graph, kind, read_heads
        self.several_databases = several_databases
        self.on_retry = on_retry
        self.indexes = IndexCheck(engine)
        self.retries: list[dict] = []
        self.attempts = 0
        self.not_retried: str | None = None  # why the last lock timeout was not retried
        self._statement_started = 0.0
        self._committing: str | None = None  # a revision whose commit has begun

    def binding(self, then: Callable[[Connection], None]) -> Callable[[Connection], None]:
        """What to call with each connection env.py migrates on: ``then`` (the run lock),
        the timeout, and the watch for work of a revision that stays in the database."""

        def bound(connection: Connection) -> None:
            self._take_run_lock(then, connection)
            if self.policy.timeout is not None:
                for statement in session_settings(connection.dialect.name, self.policy.timeout):
                    connection.exec_driver_sql(statement)
            self.indexes.before(connection)
            event.listen(connection, "commit", self._on_commit)
            event.listen(connection, "before_cursor_execute", self._on_statement_start)
            event.listen(connection, "after_cursor_execute", self._on_statement)

        return bound

    def run(self, attempt: Callable[[], None]) -> None:
        """Call ``attempt`` (one run of env.py) until it succeeds or fails for good.

        :raises StepsFailed: the last attempt's failure.
        """
        while True:
            self.attempts += 1
            try:
                attempt()
                return
            except StepsFailed as failed:
                if not self._retry_after(failed):
                    raise

    def _retry_after(self, failed: StepsFailed) -> bool:
        running = failed.timer.running
        # Only the timeout this write set: one of the database's own (a role's lock_timeout,
        # MariaDB's 50 s innodb_lock_wait_timeout) is not multiplied by retries.
        if self.policy.timeout is None or running is None or not is_lock_timeout(failed.error):
            return False
        if self.attempts > self.policy.retries:
            return False
        kept = self._rolled_back(running.revision)
        if kept is None:
            return False
        waited = elapsed_ms(self._statement_started)
        backoff = min(BACKOFF_SECONDS * 2 ** (self.attempts - 1), BACKOFF_CAP)
        backoff *= random.uniform(0.5, 1.0)
        self.retries.append(
            {
                "revision": running.revision,
                "attempt": self.attempts,
                "waited_ms": waited,
                "backoff_ms": round(backoff * 1000, 3),
                "error": describe_error(failed.error),
            }
        )
        self.timer.forget_after_failure(kept)
        self._committing = None
        self.on_retry(self.retries)
        retry = self.retries[-1]
        log.warning(
            "revision %s timed out waiting for a lock (attempt %d): retried in %.0f ms",
            running.revision,
            self.attempts,
            retry["backoff_ms"],
            extra={"event": "lock_retry", "operation_id": self.timer.operation_id, **retry},
        )
        time.sleep(backoff)
        return True

    def _rolled_back(self, revision: str) -> list[StepResult] | None:
        """The steps the database still holds when nothing of the failed ``revision`` can
        have stayed; None (and why, in ``not_retried``) otherwise."""
        if self.several_databases:
            # A retry would run every database's chain again: not proven safe.
            self.not_retried = "a write on several databases is not retried"
        elif revision in self.timer.committed_within:
            self.not_retried = "part of that revision may have stayed applied"
        else:
            try:
                now = self.read_heads()
            except exceptions.DatabaseUnavailable:
                self.not_retried = "the database's revision could not be read back"
                return None
            if (revision in self.graph.applied(now)) == (self.kind == "upgrade"):
                self.not_retried = f"the version table records {revision} as done"
                return None
            return committed(self.graph, self.kind, self.timer.done, now)
        return None

    def explain(self, failed: StepsFailed, detail: str, extra: dict) -> str:
        """The failure's ``detail``, told how the lock timeouts went (``extra`` gains
        ``lock_timeout``, ``attempts`` and ``retries``), and any index it left INVALID."""
        if self.retries:
            extra["retries"] = list(self.retries)
        if is_lock_timeout(failed.error):
            extra["lock_timeout"] = True
            extra["attempts"] = self.attempts
            timeout = self.policy.timeout
            detail += (
                " It was a lock timeout: the revision waited longer than ddl_lock_timeout "
                f"({timeout:g} s) for a lock another session holds"
                if timeout is not None
                else " It was a lock timeout (the database's own setting)"
            )
            detail += f", on {self.attempts} attempt{'s' if self.attempts > 1 else ''}."
            if self.not_retried is not None:
                detail += f" It was not retried: {self.not_retried}."
            elif self.attempts > self.policy.retries:
                detail += " Retry once the lock is free, or with more ddl_lock_retries."
        invalid = self.indexes.left_invalid()
        if invalid:
            extra["invalid_indexes"] = invalid
            names = ", ".join(f"{i['index']} on {i['table']}" for i in invalid)
            detail += (
                f" It left INVALID index{'es' if len(invalid) > 1 else ''} {names}: drop "
                "it (DROP INDEX CONCURRENTLY) before the revision runs again."
            )
        return detail

    # -- watching a revision's work -------------------------------------------------------

    def _take_run_lock(self, then: Callable[[Connection], None], connection: Connection) -> None:
        deadline = time.monotonic() + (_RUN_LOCK_WAIT if self.attempts > 1 else 0)
        while True:
            try:
                then(connection)
                return
            except LockLost:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def _on_commit(self, _connection) -> None:
        # Told before the commit runs (and a lost lock's guard may still refuse it): it counts
        # once the connection goes on to another statement. A revision's own commit comes
        # after its last statement: only a revision that failed can be seen here having
        # committed part of its work (an autocommit_block() commits as it opens).
        if self.timer.running is not None:
            self._committing = self.timer.running.revision

    def _on_statement_start(self, *_args) -> None:
        if self._committing is not None:
            self.timer.committed_within.add(self._committing)
            self._committing = None
        self._statement_started = time.perf_counter()

    def _on_statement(self, connection, _cursor, statement: str, *_args) -> None:
        if self.timer.running is None or statement.lstrip().upper().startswith(_READS):
            return
        autocommit = connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        if autocommit or not DefaultImpl.get_by_dialect(connection.dialect).transactional_ddl:
            self.timer.committed_within.add(self.timer.running.revision)


def ddl_locks(
    svc: MigrationService, graph: RevisionGraph, kind: str, timer: StepTimer, ctx, op_id: str
) -> LockTimeouts:
    """The lock timeouts of one write on ``svc``: its defaults, with what the call said;
    each retry is written to operation ``op_id``'s record as it happens."""
    return LockTimeouts(
        svc.ddl_locks.asked(ctx.ddl_lock_timeout, ctx.ddl_lock_retries),
        timer,
        graph=graph,
        kind=kind,
        engine=svc.engine,
        read_heads=svc.database_heads,
        several_databases=svc.binds.multi,
        on_retry=lambda retries: svc.oplog.retried(op_id, retries),
    )
