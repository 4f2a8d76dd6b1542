"""The SHA-256 of the SQL each revision's step executes, taken as it executes: no rendering.

A listener on each connection env.py migrates on feeds the statements (text and parameters,
in order) of the step that is running to that step's digest. Outside a step nothing is taken,
so what the service itself sends on that connection stays out: the run lock, the DDL lock
timeout's ``SET``, the invalid-index read (all before the first step), and whatever env.py
runs before ``run_migrations()`` (a ``search_path``, the version table's creation and read).

The same revision run from the same starting point on two databases of one dialect gives the
same digest. Two things would otherwise tell them apart, and are normalised away:

- Alembic's SQLite batch copy writes a table's constraints, and recreates its indexes, in an
  order that changes from one process to the next: the constraint lines of one statement, and
  a run of consecutive ``CREATE INDEX`` statements, are hashed sorted.
- A parameter whose ``repr`` carries a memory address (a driver's wrapper object) has the
  address taken out.
"""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import Connection, event
from sqlalchemy.sql.dml import UpdateBase

from api.service.database import VersionTable

_INDEX = re.compile(r"\s*CREATE\s+(UNIQUE\s+)?INDEX\b", re.IGNORECASE)
_CONSTRAINT = re.compile(r"(CONSTRAINT|PRIMARY KEY|UNIQUE|CHECK|FOREIGN KEY)\b", re.IGNORECASE)
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def canonical(statement: str, parameters) -> str:
    """One statement as it is hashed: its lines stripped, a run of constraint lines sorted,
    then its parameters' ``repr`` (without memory addresses)."""
    if "\n" in statement:
        lines, run = [], []
        for line in statement.splitlines():
            line = line.strip().rstrip(",").rstrip()
            if _CONSTRAINT.match(line):
                run.append(line)
                continue
            lines += sorted(run)
            run = []
            if line:
                lines.append(line)
        statement = "\n".join(lines + sorted(run))
    else:
        statement = statement.strip()
    shown = repr(parameters)
    if " at 0x" in shown:
        shown = _ADDRESS.sub("", shown)
    return f"{statement}\x00{shown}\x1e"


class _Step:
    """One step's digest, fed statement by statement."""

    def __init__(self, bind: str) -> None:
        self.bind = bind
        self._hash = hashlib.sha256()
        self._indexes: list[str] = []  # consecutive CREATE INDEX statements, not yet hashed

    def add(self, statement: str, parameters) -> None:
        entry = canonical(statement, parameters)
        if _INDEX.match(statement):
            self._indexes.append(entry)
            return
        self._flush(self._hash)
        self._hash.update(entry.encode())

    def hexdigest(self) -> str:
        ended = self._hash.copy()
        self._flush(ended, keep=True)
        return ended.hexdigest()

    def _flush(self, into, keep: bool = False) -> None:
        for entry in sorted(self._indexes):
            into.update(entry.encode())
        if not keep:
            self._indexes = []


class StepDigests:
    """The digests of one write's steps, by (bind, revision); the dialect of each bind."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, str], _Step] = {}
        self._dialects: dict[str, str] = {}
        self._running: _Step | None = None
        self._watched: list[Connection] = []

    def watch(self, connection: Connection, bind: str, version_table: VersionTable) -> None:
        """Take the statements ``connection`` (``bind``'s) executes while a step runs, but
        those on ``version_table``."""
        self._dialects[bind] = connection.dialect.name
        if any(seen is connection for seen in self._watched):
            return  # configure() called twice on one connection: one listener
        self._watched.append(connection)

        def executing(_conn, _cursor, statement, parameters, context, _many) -> None:
            step = self._running
            if step is None or step.bind != bind or _versions(context, version_table):
                return
            step.add(statement, parameters)

        event.listen(connection, "before_cursor_execute", executing)

    def begin(self, bind: str, revision: str) -> None:
        """A step of ``revision`` starts on ``bind`` (run again after a retry: afresh)."""
        self._running = self._steps[bind, revision] = _Step(bind)

    def end(self) -> None:
        """The running step is over (done, or failed and about to be retried)."""
        self._running = None

    def get(self, bind: str, revision: str) -> tuple[str | None, str | None]:
        """(digest, dialect) of ``revision``'s step on ``bind``; (None, None) if none ran."""
        step = self._steps.get((bind, revision))
        if step is None:
            return None, None
        return step.hexdigest(), self._dialects.get(bind)


def _versions(context, table: VersionTable) -> bool:
    """Whether the statement is Alembic's insert, update or delete of the version table. Left
    out: that is Alembic's bookkeeping, not the revision's work, and it names a table each
    deployment may call differently (VERSION_TABLE), with the revision id written in."""
    statement = getattr(getattr(context, "compiled", None), "statement", None)
    if not isinstance(statement, UpdateBase):
        return False
    target = getattr(statement, "table", None)
    return getattr(target, "name", None) == table.name and target.schema == table.schema
