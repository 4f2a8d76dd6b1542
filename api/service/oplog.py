"""The operation log: every upgrade, downgrade and stamp, like Flyway's schema history.

It lives beside the target database but out of sight of the users' autogenerate (which
proposes to drop any table it does not know): in the schema ``migrateway`` on PostgreSQL,
in the database ``<name>_migrateway`` on MariaDB/MySQL, and in a sibling file for SQLite.
Every replica managing the same database therefore shares it, and it survives restarts.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.dialects import mysql

from api import exceptions
from api.service.database import reachable
from api.service.results import StepResult
from api.service.unwritten import Unwritten

RUNNING, SUCCEEDED, FAILED, INTERRUPTED = "running", "succeeded", "failed", "interrupted"

# Microseconds on MariaDB too, whose DATETIME keeps whole seconds unless told otherwise.
_TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

_metadata = sa.MetaData()
operations = sa.Table(
    "operations",
    _metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("sql", sa.Boolean, nullable=False),
    sa.Column("from_revisions", sa.Text, nullable=False),
    sa.Column("to_revisions", sa.Text),
    sa.Column("steps", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("error", sa.Text),
    sa.Column("failed_revision", sa.String(64)),
    sa.Column("partial_possible", sa.Boolean, nullable=False),
    sa.Column("started_at", _TIMESTAMP, nullable=False, index=True),
    sa.Column("finished_at", _TIMESTAMP),
    sa.Column("client_address", sa.String(64)),
    sa.Column("lock_wait_ms", sa.Float),
    # Progress of a running operation, written at most every PROGRESS_INTERVAL seconds.
    sa.Column("steps_total", sa.Integer),
    sa.Column("steps_done", sa.Integer),
    sa.Column("running_revision", sa.String(64)),
    sa.Column("idempotency_key", sa.String(255), unique=True),
    sa.Column("request_hash", sa.String(64)),
    sa.Column("response_status", sa.Integer),
    sa.Column("response_body", sa.Text),
    # A stamp that clears a recovery names the operation it acknowledges; that one names it.
    sa.Column("resolves", sa.String(36)),
    sa.Column("resolved_by", sa.String(36)),
)


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None
    running_revision: str | None
    elapsed_ms: float


@dataclass
class Operation:
    id: str
    kind: str
    actor: str
    target: str
    sql: bool
    from_: tuple[str, ...]
    to: tuple[str, ...] | None
    steps: list[StepResult]
    status: str
    error: str | None
    failed_revision: str | None
    partial_possible: bool
    started_at: datetime
    finished_at: datetime | None
    client_address: str | None
    lock_wait_ms: float | None = None
    steps_total: int | None = None
    steps_done: int | None = None
    running_revision: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    response_status: int | None = None
    response_body: str | None = field(default=None, repr=False)
    resolves: str | None = None
    resolved_by: str | None = None

    @property
    def needs_recovery(self) -> bool:
        """It ended part-way through a revision on a database without transactional DDL, and
        no stamp has acknowledged it yet."""
        return (
            self.status in (FAILED, INTERRUPTED)
            and self.partial_possible
            and self.resolved_by is None
        )

    @property
    def progress(self) -> Progress:
        """Revision k of n, the one running, and the time since it started."""
        end = self.finished_at or _now()
        return Progress(
            done=self.steps_done or 0,
            total=self.steps_total,
            running_revision=self.running_revision,
            elapsed_ms=round((end - self.started_at).total_seconds() * 1000, 1),
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    # SQLite and MariaDB hand back naive datetimes; every stored time is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _from_row(row) -> Operation:
    m = row._mapping
    return Operation(
        id=m["id"],
        kind=m["kind"],
        actor=m["actor"],
        target=m["target"],
        sql=bool(m["sql"]),
        from_=tuple(json.loads(m["from_revisions"])),
        to=tuple(json.loads(m["to_revisions"])) if m["to_revisions"] is not None else None,
        steps=[StepResult(**s) for s in json.loads(m["steps"])],
        status=m["status"],
        error=m["error"],
        failed_revision=m["failed_revision"],
        partial_possible=bool(m["partial_possible"]),
        started_at=_utc(m["started_at"]),
        finished_at=_utc(m["finished_at"]),
        client_address=m["client_address"],
        lock_wait_ms=m["lock_wait_ms"],
        steps_total=m["steps_total"],
        steps_done=m["steps_done"],
        running_revision=m["running_revision"],
        idempotency_key=m["idempotency_key"],
        request_hash=m["request_hash"],
        response_status=m["response_status"],
        response_body=m["response_body"],
        resolves=m["resolves"],
        resolved_by=m["resolved_by"],
    )


def _to_row(op: Operation) -> dict:
    """The columns of a new operation's row (the inverse of _from_row for what start sets)."""
    return {
        "id": op.id,
        "kind": op.kind,
        "actor": op.actor,
        "target": op.target,
        "sql": op.sql,
        "from_revisions": json.dumps(list(op.from_)),
        "steps": "[]",
        "status": op.status,
        "partial_possible": op.partial_possible,
        "started_at": op.started_at,
        "client_address": op.client_address,
        "idempotency_key": op.idempotency_key,
        "request_hash": op.request_hash,
        "lock_wait_ms": op.lock_wait_ms,
        "steps_total": op.steps_total,
        "steps_done": op.steps_done,
        "resolves": op.resolves,
    }


def _add_missing_columns(conn, schema: str | None) -> None:
    """Add the (nullable) columns a log made by an earlier version of the service lacks, so
    an upgrade of the service keeps its history."""
    have = {c["name"] for c in sa.inspect(conn).get_columns("operations", schema=schema)}
    missing = [c for c in operations.columns if c.name not in have]
    if not missing:
        return
    quote = conn.dialect.identifier_preparer
    table = quote.quote("operations")
    if schema is not None:
        table = f"{quote.quote_schema(schema)}.{table}"
    for column in missing:
        try:
            conn.exec_driver_sql(
                f"ALTER TABLE {table} ADD COLUMN {quote.quote(column.name)} "
                f"{column.type.compile(conn.dialect)}"
            )
            conn.commit()
        except sa.exc.DBAPIError:  # another worker added it meanwhile
            conn.rollback()


class OperationLog:
    """Reads and writes the operation log of one target database."""

    def __init__(self, target: Engine):
        self._target = target
        self._ready = False
        self._ready_lock = threading.Lock()
        dialect = target.dialect.name
        if dialect == "sqlite":
            path = target.url.database
            log_path = f"{path}.operations.sqlite" if path and path != ":memory:" else ""
            self.engine = sa.create_engine(f"sqlite:///{log_path}")
            self._schema = None
        else:
            self.engine = target
            self._schema = (
                "migrateway" if dialect == "postgresql" else f"{target.url.database}_migrateway"
            )
        self._options = {"schema_translate_map": {None: self._schema}} if self._schema else {}
        self._unwritten = Unwritten(operations, self._connect)

    @contextmanager
    def _connect(self) -> Iterator[sa.Connection]:
        """A connection to the log. Here, in _exists and in ensure, a database that cannot be
        reached (or went away mid-statement) raises DatabaseUnavailable: a 503 to retry.
        What the database could not take before is written first, so every read sees it."""
        with (
            reachable(self.engine),
            self.engine.connect().execution_options(**self._options) as conn,
        ):
            if self._unwritten:
                self._unwritten.write(conn)
            yield conn

    def _exists(self) -> bool:
        if self._ready:
            return True
        if self.engine.dialect.name == "sqlite" and self.engine is not self._target:
            path = self.engine.url.database
            if path and not os.path.exists(path):
                return False
        # Once seen, the table stays: later reads skip the catalogue query.
        with reachable(self.engine):
            if sa.inspect(self.engine).has_table("operations", schema=self._schema):
                with self._connect() as conn:
                    _add_missing_columns(conn, self._schema)
                self._ready = True
        return self._ready

    def ensure(self) -> None:
        """Create the log's schema and table on first write (never on a read)."""
        with self._ready_lock, reachable(self.engine):
            if self._ready:
                return
            with self.engine.begin() as conn:
                if self.engine.dialect.name == "postgresql":
                    conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
                elif self._schema:
                    conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{self._schema}`")
            with self._connect() as conn:
                _metadata.create_all(conn, checkfirst=True)
                conn.commit()
                _add_missing_columns(conn, self._schema)
            self._ready = True

    # -- writes ---------------------------------------------------------------------------

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
    ) -> Operation:
        """Record an operation as running; called before its first statement runs.

        :raises AlreadyDone: another request with this Idempotency-Key was recorded first
            (a second line of defence: the lock serializes them).
        """
        self.ensure()
        op = Operation(
            id=str(uuid.uuid4()),
            kind=kind,
            actor=actor,
            target=target,
            sql=sql,
            from_=tuple(from_),
            to=None,
            steps=[],
            status=RUNNING,
            error=None,
            failed_revision=None,
            partial_possible=False,
            started_at=_now(),
            finished_at=None,
            client_address=client_address,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            lock_wait_ms=lock_wait_ms,
            steps_total=steps_total,
            steps_done=0,
            resolves=resolves,
        )
        with self._connect() as conn:
            try:
                conn.execute(operations.insert().values(**_to_row(op)))
                conn.commit()
            except sa.exc.IntegrityError:
                conn.rollback()
                first = self.by_key(idempotency_key) if idempotency_key else None
                if first is None:
                    raise
                raise exceptions.AlreadyDone(first) from None
        return op

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
    ) -> None:
        """Record how an operation ended; if the database cannot take it now, as soon as it can
        (the caller's answer stands either way). A stamp that ``resolves`` a recovery marks
        that operation resolved by it (written first)."""
        if resolves is not None:
            self._unwritten.update(resolves, {"resolved_by": op_id})
        self._unwritten.update(
            op_id,
            {
                "status": status,
                "to_revisions": json.dumps(list(to)) if to is not None else None,
                "steps": json.dumps([s.__dict__ for s in steps]),
                "error": error,
                "failed_revision": failed_revision,
                "partial_possible": partial_possible,
                "finished_at": _now(),
                "steps_done": len(steps),
                "running_revision": None,
            },
        )

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
                .where(operations.c.status == RUNNING)
                .values(
                    status=INTERRUPTED,
                    finished_at=_now(),
                    partial_possible=sa.false() if transactional_ddl else began_revision,
                    error="The process running it stopped before it finished.",
                )
            ).rowcount
            conn.commit()
        return count

    # -- reads ----------------------------------------------------------------------------

    def get(self, op_id: str) -> Operation | None:
        if not self._exists():
            return None
        with self._connect() as conn:
            row = conn.execute(operations.select().where(operations.c.id == op_id)).first()
        return _from_row(row) if row else None

    def by_key(self, key: str) -> Operation | None:
        if not self._exists():
            return None
        with self._connect() as conn:
            row = conn.execute(
                operations.select().where(operations.c.idempotency_key == key)
            ).first()
        return _from_row(row) if row else None

    def page(self, limit: int, offset: int) -> tuple[list[Operation], int]:
        """Newest first."""
        if not self._exists():
            return [], 0
        with self._connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(operations)).scalar()
            rows = conn.execute(
                operations.select()
                .order_by(operations.c.started_at.desc(), operations.c.id)
                .limit(limit)
                .offset(offset)
            ).all()
        return [_from_row(r) for r in rows], total

    def running(self) -> Operation | None:
        if not self._exists():
            return None
        with self._connect() as conn:
            row = conn.execute(
                operations.select()
                .where(operations.c.status == RUNNING)
                .order_by(operations.c.started_at.desc())
            ).first()
        return _from_row(row) if row else None

    def needing_recovery(self) -> Operation | None:
        """The newest operation that stopped part-way through a revision (see
        ``Operation.needs_recovery``), unless a later stamp succeeded (one that predates the
        ``resolves`` field cleared it then)."""
        if not self._exists():
            return None
        c = operations.c
        with self._connect() as conn:
            row = conn.execute(
                operations.select()
                .where(
                    c.status.in_((FAILED, INTERRUPTED)),
                    c.partial_possible.is_(True),
                    c.resolved_by.is_(None),
                )
                .order_by(c.started_at.desc())
                .limit(1)
            ).first()
            if row is None:
                return None
            stamped_since = conn.execute(
                sa.select(c.id)
                .where(c.kind == "stamp", c.status == SUCCEEDED, c.sql.is_(False))
                .where(c.started_at > row.started_at)
                .limit(1)
            ).first()
        return None if stamped_since else _from_row(row)

    def stats(self) -> dict:
        """Aggregates of the operations that ran against the database (dry runs excluded):
        ``counts`` {(kind, status): n}, ``seconds`` {kind: total duration of finished ones},
        ``lock_waits`` (n, total seconds).

        Computed from the shared log, so every worker and replica reports the same figures.
        """
        result: dict = {"counts": {}, "seconds": {}, "lock_waits": (0, 0.0)}
        if not self._exists():
            return result
        c = operations.c
        real = c.sql.is_(False)
        with self._connect() as conn:
            for kind, status, n in conn.execute(
                sa.select(c.kind, c.status, sa.func.count()).where(real).group_by(c.kind, c.status)
            ):
                result["counts"][kind, status] = n
            for kind, begin, end in conn.execute(
                sa.select(c.kind, c.started_at, c.finished_at).where(
                    real, c.finished_at.is_not(None)
                )
            ):
                elapsed = (_utc(end) - _utc(begin)).total_seconds()
                result["seconds"][kind] = result["seconds"].get(kind, 0.0) + elapsed
            n, total_ms = conn.execute(
                sa.select(sa.func.count(c.lock_wait_ms), sa.func.sum(c.lock_wait_ms)).where(real)
            ).one()
            result["lock_waits"] = (n, (total_ms or 0.0) / 1000)
        return result
