"""What a caller brings to a write: who, from where, on what conditions, under which key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class CallContext:
    """Who asks, from where, and on what conditions: recorded with the operation."""

    actor: str = "anonymous"
    client_address: str | None = None
    lock_timeout: float = 5.0
    # How long a revision's statement waits for a table lock, and how many times a revision
    # that gave up is retried (None: the service's DDL_LOCK_TIMEOUT / DDL_LOCK_RETRIES).
    ddl_lock_timeout: float | None = None
    ddl_lock_retries: int | None = None
    # The revisions the caller believes the database is at (If-Match / expected_current).
    expected_current: tuple[str, ...] | None = None
    # Idempotency-Key, and a digest of the request it came with (the same key with another
    # request is refused).
    idempotency_key: str | None = None
    request_hash: str | None = None
    # Called with the operation's id once it is recorded (for answers that do not wait).
    on_recorded: Callable[[str], None] | None = None
    # Prefer: respond-async on Celery. ``queue``: instead of running, record the operation as
    # queued and hand it to this (its id, the write, this context); ``queued``: in the worker,
    # the id of the queued record this run takes.
    queue: Callable[[str, object, CallContext], None] | None = None
    queued: str | None = None
