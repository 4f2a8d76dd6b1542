"""GET /targets' read of a SQLite target without a service: two queries, no engine, no pool.

A target's MigrationService costs an engine for its database and one for its operation log,
each with a pool the process keeps, and SQLAlchemy compiles every statement again for each new
engine: about 20 ms of CPU and two open files per target, so a listing of 10,000 targets took
minutes and would have held 20,000 files open. The fleet matrix needs two facts of each
target, its version rows and its newest operation; for a SQLite file both are one read-only
query on a driver connection that is closed at once.

Anything this path is not sure of (an error, an operation still marked running, a version
table elsewhere than the default schema) answers None, and the caller asks the target's
service, which tells an unreachable database from a missing table and settles a dead
'running' operation, as it does for a single target.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import make_url

from api.service.database import VersionTable
from api.service.oplog import RUNNING


@dataclass(frozen=True)
class LastOperation:
    """The newest operation of a target's log, as a row of the matrix shows it."""

    id: str
    kind: str
    status: str
    finished_at: datetime | None


@dataclass(frozen=True)
class Status:
    """What a quick read found: the version rows and the newest operation."""

    heads: tuple[str, ...]
    last_operation: LastOperation | None


# The newest operation, in the order the log's own page uses (newest first, then by id), and
# whether any operation is still marked running (then the service settles it first): one
# statement, since each costs about as much as opening the file.
_LAST = (
    "SELECT id, kind, status, finished_at,"
    " EXISTS (SELECT 1 FROM operations WHERE status = ?)"
    " FROM operations ORDER BY started_at DESC, id LIMIT 1"
)


@functools.lru_cache(maxsize=65536)  # one parse per target, not one per listing
def sqlite_path(url: str) -> str | None:
    """The file of a plain SQLite URL; None for anything else (memory, URI forms, servers)."""
    try:
        parsed = make_url(url)
    except Exception:  # settings.parse checked it; anything odd takes the service's path
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.query:
        return None
    path = parsed.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


# A file that is not a SQLite database: the service answers 503 database-unavailable for it,
# a row with ``reachable`` false; answered here, it costs no service.
NOT_A_DATABASE = Status((), None)


def read(path: str, table: VersionTable) -> Status | None:
    """The status of the SQLite database at ``path``, or NOT_A_DATABASE; None: ask the
    service instead.

    Never creates a file: a missing database is at base, a missing log has no operation.
    """
    if table.schema is not None:
        return None
    try:
        heads = _versions(path, table.name)
    except sqlite3.DatabaseError as exc:
        return NOT_A_DATABASE if _not_a_database(exc) else None
    try:
        last = _last_operation(f"{path}.operations.sqlite")  # where the service keeps it
    except sqlite3.Error:
        return None
    if last is _UNSURE:
        return None
    return Status(heads, last)


def _not_a_database(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return code == sqlite3.SQLITE_NOTADB
    return str(exc) == "file is not a database"


def _connect(path: str) -> sqlite3.Connection:
    # Read-only and by URI: a file that is missing raises instead of being created.
    uri = "file:" + path.replace("?", "%3f").replace("#", "%23") + "?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=1.0, check_same_thread=False)


def _versions(path: str, name: str) -> tuple[str, ...]:
    if not os.path.exists(path):
        return ()
    quoted = '"' + name.replace('"', '""') + '"'
    conn = _connect(path)
    try:
        rows = conn.execute(f"SELECT version_num FROM {quoted}").fetchall()  # noqa: S608
    except sqlite3.OperationalError as exc:
        if str(exc) == f"no such table: {name}":
            return ()  # an unversioned database: at base, as Alembic says
        raise
    finally:
        conn.close()
    return tuple(sorted(str(r[0]) for r in rows))


_UNSURE = object()  # the log holds a running operation: the service must settle it first


def _last_operation(log_path: str) -> LastOperation | None | object:
    if not os.path.exists(log_path):
        return None  # no operation has run on this target yet
    conn = _connect(log_path)
    try:
        row = conn.execute(_LAST, (RUNNING,)).fetchone()
    finally:
        conn.close()
    if row is None:
        return None
    op_id, kind, status, finished, running = row
    if running:
        return _UNSURE
    return LastOperation(str(op_id), kind, status, utc(finished))


def utc(value) -> datetime | None:
    """A time as the log's column type reads it: stored as naive text, always UTC."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
