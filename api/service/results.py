"""Plain data the migration service returns; the marshmallow schemas dump these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class RevisionInfo:
    """One revision script, as read from the migrations directory."""

    revision: str
    down_revisions: tuple[str, ...]
    branch_labels: tuple[str, ...]
    depends_on: tuple[str, ...]
    message: str | None
    created_at: datetime | None
    path: str
    is_head: bool
    is_base: bool
    is_branch_point: bool
    is_merge_point: bool
    applied: bool | None = None


@dataclass(frozen=True)
class RevisionPage:
    items: list[RevisionInfo]
    total: int
    limit: int | None
    offset: int


@dataclass(frozen=True)
class CurrentState:
    current: tuple[str, ...]
    heads: tuple[str, ...]
    pending: tuple[str, ...]

    @property
    def up_to_date(self) -> bool:
        return set(self.current) == set(self.heads)


@dataclass(frozen=True)
class Branch:
    revision: str
    message: str | None
    next_revisions: tuple[str, ...]


@dataclass(frozen=True)
class StepResult:
    """A revision applied or reverted by one call."""

    revision: str
    message: str | None
    duration_ms: float


@dataclass
class RunResult:
    """What one upgrade, downgrade or stamp did."""

    from_: tuple[str, ...]
    to: tuple[str, ...]
    steps: list[StepResult] = field(default_factory=list)
    duration_ms: float = 0.0
    sql: str | None = None
    operation_id: str | None = None


@dataclass(frozen=True)
class CallContext:
    """Who asks, from where, and on what conditions: recorded with the operation."""

    actor: str = "anonymous"
    client_address: str | None = None
    lock_timeout: float = 5.0
    # The revisions the caller believes the database is at (If-Match / expected_current).
    expected_current: tuple[str, ...] | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    # Called with the operation's id once it is recorded (for answers that do not wait).
    on_recorded: Callable[[str], None] | None = None
