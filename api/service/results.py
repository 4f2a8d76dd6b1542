"""Plain data the migration service returns; the marshmallow schemas dump these."""

from __future__ import annotations

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
    # Each bind's own state, when the application migrates several databases.
    binds: dict[str, CurrentState] | None = None

    @property
    def up_to_date(self) -> bool:
        if self.binds is not None:
            return all(state.up_to_date for state in self.binds.values())
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
    """What one upgrade, downgrade or stamp did. A dry run applies nothing: its steps are
    ``rendered``, and ``to`` is where its SQL leads."""

    from_: tuple[str, ...]
    to: tuple[str, ...]
    steps: list[StepResult] = field(default_factory=list)
    rendered: list[StepResult] = field(default_factory=list)
    duration_ms: float = 0.0
    sql: str | None = None
    operation_id: str | None = None
    # The answer kept for this call's Idempotency-Key, given again.
    replayed: bool = False
    # Several databases: each bind's {"from", "to", "steps", "sql"} as plain JSON data
    # (the Idempotency-Key keeps it as it is); the fields above are the default bind's.
    binds: dict[str, dict] | None = None
    # Each time a revision that timed out waiting for a lock was tried again
    # (api/service/ddl_timeouts.py): {"revision", "attempt", "waited_ms", "backoff_ms", "error"}.
    retries: list[dict] = field(default_factory=list)
