"""A throw-away copy of a SQLite database, and the statements a migration executes on it."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tempfile
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, event


def copyable(engine: Engine) -> bool:
    """True for a SQLite database in a file (in memory or named by URI, there is none to copy)."""
    path = engine.url.database
    return (
        engine.dialect.name == "sqlite"
        and bool(path)
        and path != ":memory:"
        and (not path.startswith("file:"))
    )


@contextmanager
def throwaway_copy(path: str) -> Iterator[str]:
    """Yield the path of a consistent copy of the SQLite file ``path`` (an empty database when
    there is no file yet), in a private directory removed afterwards with all it holds.

    sqlite3's backup API copies a consistent snapshot even while other connections write,
    and it never writes to the source (opened read-only)."""
    directory = tempfile.mkdtemp(prefix="migrateway-dry-run-")
    try:
        copy = os.path.join(directory, "copy.sqlite")
        target = sqlite3.connect(copy)
        try:
            if os.path.exists(path):
                uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
                source = sqlite3.connect(uri, uri=True)
                try:
                    source.backup(target)
                finally:
                    source.close()
        finally:
            target.close()
        yield copy
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def is_file(connection: Connection, path: str) -> bool:
    """Whether ``connection`` is to the SQLite file ``path`` (by its engine's URL: no query)."""
    database = connection.engine.url.database
    if connection.dialect.name != "sqlite" or not database:
        return False
    return os.path.realpath(database) == os.path.realpath(path)


# Reads change nothing, so a script of what a migration does leaves them out: SELECTs (the
# version table's, a data migration's) and the PRAGMA calls reflection makes (batch mode).
# A PRAGMA that sets something ("PRAGMA foreign_keys = OFF") stays.
_READ = re.compile(r"^\s*(SELECT\b|PRAGMA\s+[\w.\"]+\s*(\(|;?\s*$))", re.IGNORECASE)


class StatementLog:
    """The statements executed on the connections it listens to, as a SQL script: each with
    its values written in where SQLAlchemy can render them as literals, else with its
    parameters in a comment below it."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._literal: str | None = None

    def listen(self, connection: Connection) -> None:
        event.listen(connection, "before_execute", self._before_execute)
        event.listen(connection, "before_cursor_execute", self._before_cursor_execute)

    def note(self, comment: str) -> None:
        self.lines.append(f"-- {comment}\n")

    def text(self) -> str:
        return "\n".join(self.lines)

    def _before_execute(self, conn, clause, multiparams, params, execution_options) -> None:
        self._literal = None
        # Values passed beside the statement would not be in a literal rendering of it.
        if multiparams or params or not hasattr(clause, "compile"):
            return
        try:
            compiled = clause.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            self._literal = str(compiled).strip()
        except Exception:  # a type SQLAlchemy cannot write as a literal: the parameters, then
            self._literal = None

    def _before_cursor_execute(
        self, conn, cursor, statement, parameters, context, executemany
    ) -> None:
        literal, self._literal = self._literal, None
        text = literal or statement.strip()
        if _READ.match(text):
            return
        line = f"{text};\n"
        if literal is None and parameters:
            line += f"-- parameters: {parameters!r}\n"
        self.lines.append(line)
