"""What a DDL lock timeout is: how long and how often a write asks for it, the session
settings that set it on each database, and the errors that say it struck."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

# PostgreSQL lock_not_available; MariaDB/MySQL ER_LOCK_WAIT_TIMEOUT (metadata and row locks).
_POSTGRESQL_LOCK_TIMEOUT = "55P03"
_MYSQL_LOCK_TIMEOUT = 1205


@dataclass(frozen=True)
class DdlLockPolicy:
    """How long a revision's statement waits for a lock (seconds; None: as long as the
    database lets it) and how many times a revision that gave up is tried again."""

    timeout: float | None = None
    retries: int = 3

    def asked(self, timeout: float | None, retries: int | None) -> DdlLockPolicy:
        """This policy with what a request said instead (None: not said)."""
        return DdlLockPolicy(
            self.timeout if timeout is None else timeout,
            self.retries if retries is None else retries,
        )


def session_settings(dialect: str, timeout: float) -> list[str]:
    """The statements that make a session's lock waits give up after ``timeout`` seconds.
    MariaDB counts whole seconds (0 would not wait at all): it waits at least one."""
    if dialect == "postgresql":
        return [f"SET lock_timeout = '{max(1, round(timeout * 1000))}ms'"]
    if dialect in ("mysql", "mariadb"):
        seconds = max(1, math.ceil(timeout))
        return [
            f"SET SESSION lock_wait_timeout = {seconds}",
            f"SET SESSION innodb_lock_wait_timeout = {seconds}",
        ]
    return []


def is_lock_timeout(error: BaseException | None) -> bool:
    """Whether ``error`` (or what caused it) is the database giving up waiting for a lock."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        orig = error.orig if isinstance(error, DBAPIError) else error
        if getattr(orig, "sqlstate", None) == _POSTGRESQL_LOCK_TIMEOUT:  # psycopg, asyncpg
            return True
        if getattr(orig, "pgcode", None) == _POSTGRESQL_LOCK_TIMEOUT:  # psycopg2
            return True
        args = getattr(orig, "args", ())
        if args and args[0] == _MYSQL_LOCK_TIMEOUT:  # PyMySQL, mysqlclient
            return True
        error = error.__cause__ or error.__context__
    return False
