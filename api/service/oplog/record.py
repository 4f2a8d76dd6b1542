"""The operation record: one class is the log's table, its rows and the service's object."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedAsDataclass, mapped_column

from api.service.results import StepResult

RUNNING, SUCCEEDED, FAILED, INTERRUPTED = "running", "succeeded", "failed", "interrupted"
# Prefer: respond-async on Celery: recorded when queued, before any worker has taken it; one a
# worker refused before it ran anything (a held lock, a failed precondition) ends refused.
QUEUED, REFUSED = "queued", "refused"


def now() -> datetime:
    """Every time the log keeps is UTC."""
    return datetime.now(UTC)


class UtcDateTime(sa.TypeDecorator):
    """A UTC-aware timestamp kept to the microsecond on every backend."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        # MariaDB's DATETIME keeps whole seconds unless told otherwise.
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(self.impl)

    def process_result_value(self, value, dialect):
        # SQLite and MariaDB hand back naive datetimes; every stored time is UTC.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class _JsonText(sa.TypeDecorator):
    """JSON in a TEXT column, as earlier versions wrote it: a JSON column type would read their
    TEXT columns differently on each backend. Subclasses say how their values map to JSON."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else json.dumps(self.to_json(value))

    def process_result_value(self, value, dialect):
        return None if value is None else self.from_json(json.loads(value))


class Revisions(_JsonText):
    """A tuple of revision ids."""

    to_json, from_json = staticmethod(list), staticmethod(tuple)


class Steps(_JsonText):
    """The revisions an operation applied, reverted or stamped."""

    @staticmethod
    def to_json(value: list[StepResult]) -> list[dict]:
        return [vars(step) for step in value]

    @staticmethod
    def from_json(value: list[dict]) -> list[StepResult]:
        return [StepResult(**step) for step in value]


class Json(_JsonText):
    """Plain JSON data: each bind's part of an operation on several databases."""

    to_json = from_json = staticmethod(lambda value: value)


class _Base(MappedAsDataclass, DeclarativeBase, kw_only=True):
    # The log's own metadata: never the users' (their autogenerate would drop the table).
    metadata = sa.MetaData()


class Operation(_Base):
    """One upgrade, downgrade or stamp. A new field is one line here (nullable, so that a log
    written by an earlier version gains it, see store.py) and one in OperationSchema."""

    __tablename__ = "operations"

    id: Mapped[str] = mapped_column(
        sa.String(36), primary_key=True, default_factory=lambda: str(uuid.uuid4())
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    actor: Mapped[str] = mapped_column(sa.String(128))
    target: Mapped[str] = mapped_column(sa.String(128))
    sql: Mapped[bool]
    from_: Mapped[tuple[str, ...]] = mapped_column("from_revisions", Revisions)
    to: Mapped[tuple[str, ...] | None] = mapped_column("to_revisions", Revisions, default=None)
    steps: Mapped[list[StepResult]] = mapped_column(Steps, default_factory=list)
    status: Mapped[str] = mapped_column(sa.String(16), index=True, default=RUNNING)
    error: Mapped[str | None] = mapped_column(sa.Text, default=None)
    failed_revision: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    partial_possible: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True, default_factory=now)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    client_address: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    lock_wait_ms: Mapped[float | None] = mapped_column(sa.Float, default=None)
    # Progress of a running operation, written at most every PROGRESS_INTERVAL seconds.
    steps_total: Mapped[int | None] = mapped_column(default=None)
    steps_done: Mapped[int | None] = mapped_column(default=None)
    running_revision: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(255), unique=True, default=None)
    request_hash: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    response_status: Mapped[int | None] = mapped_column(default=None)
    response_body: Mapped[str | None] = mapped_column(sa.Text, default=None, repr=False)
    # A stamp that clears a recovery names the operation it acknowledges; that one names it.
    resolves: Mapped[str | None] = mapped_column(sa.String(36), default=None)
    resolved_by: Mapped[str | None] = mapped_column(sa.String(36), default=None)
    # Several databases: bind name -> {"from", "to", "steps"} (api/service/bind_runs.py).
    binds: Mapped[dict | None] = mapped_column(Json, default=None)
    # A change that destroys data ran with the plan_id of its plan: that plan's id and the
    # losses it named, acknowledged by this operation's actor.
    acknowledged: Mapped[dict | None] = mapped_column(Json, default=None)
    # Each retry of a revision that timed out waiting for a lock, written as it happens.
    retries: Mapped[list | None] = mapped_column(Json, default=None)
    # Revisions whose files changed since they were applied, run all the same because the
    # request named them in accept_changed: each with its recorded and current checksum.
    accepted_changed: Mapped[list | None] = mapped_column(Json, default=None)
    # Refused: the problem the request would have been answered with had it waited for it.
    problem: Mapped[dict | None] = mapped_column(Json, default=None)

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
        end = self.finished_at or now()
        return Progress(
            done=self.steps_done or 0,
            total=self.steps_total,
            running_revision=self.running_revision,
            elapsed_ms=round((end - self.started_at).total_seconds() * 1000, 1),
        )


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None
    running_revision: str | None
    elapsed_ms: float


operations = Operation.__table__

# Attribute -> column, read from the mapping above (``from_`` is stored as from_revisions).
_COLUMNS = {attr.key: attr.columns[0] for attr in sa.inspect(Operation).column_attrs}


# The log reads and writes with Core statements, not an ORM session, which would cost a
# write about 0.5 ms of CPU (measured on SQLite and PostgreSQL) for nothing it needs.
def from_row(row: sa.Row) -> Operation:
    """The operation a row of the table holds (the column types have converted its values)."""
    return Operation(**{key: row._mapping[column] for key, column in _COLUMNS.items()})


def to_row(op: Operation) -> dict:
    """The values of ``op``'s row, by column name."""
    return {column.name: getattr(op, key) for key, column in _COLUMNS.items()}
