"""One step's SQL as statements: split at its top-level semicolons, sorted by their first
keywords, and parsed with sqlglot only when they can produce a finding."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

# SQLAlchemy's dialect names -> sqlglot's. MariaDB speaks MySQL's DDL as far as this goes.
_DIALECTS = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
}

# Only the statement boundaries are found here, not by sqlglot's tokenizer: it is pure Python
# and costs about 0.7 us per character, most of a step's budget spent on CREATE TABLE bodies
# that cannot produce a finding. So a scanner skips what may hide a ";" (strings, quoted
# names, comments, dollar quotes) and each statement that can matter is then parsed whole.
_COMMON = r"""
    "(?:[^"]|"")*" | `(?:[^`]|``)*` | --[^\n]* | /\*.*?\*/
"""
_SKIP = {
    "postgres": r"""[eE]'(?:[^'\\]|\\.|'')*' | '(?:[^']|'')*'
        | \$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?\$(?P=tag)\$ |""",
    "mysql": r"""'(?:[^'\\]|\\.|'')*' | \#[^\n]* |""",
    "": r"""'(?:[^']|'')*' |""",
}
_SCANNERS = {
    dialect: re.compile(rf"(?P<skip>{skip}{_COMMON}) | (?P<end>;)", re.S | re.X)
    for dialect, skip in _SKIP.items()
}
_LEADING_COMMENTS = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/|\#[^\n]*)*", re.S)

# The first keywords of the statements that can produce a finding, and on PostgreSQL those
# that open or close a transaction (BEGIN, COMMIT, as Alembic writes them around an
# autocommit_block()). Everything else (the version table's INSERT/UPDATE/DELETE, SET,
# SELECT, COMMENT ON, CREATE TYPE, data migrations) is skipped before any parsing.
_HEAD = re.compile(
    r"""(?P<kind>ALTER\s+TABLE | DROP\s+(?:TABLE|SCHEMA|DATABASE|INDEX)
        | CREATE\s+(?:UNIQUE\s+)?INDEX | CREATE\s+TABLE | INSERT\s+INTO | RENAME\s+TABLE
        | BEGIN | START\s+TRANSACTION | COMMIT)\b""",
    re.I | re.X,
)
OPENS = frozenset({"BEGIN", "START TRANSACTION"})
CLOSES = frozenset({"COMMIT"})
_NAME = r"""(?:"[^"]+"|`[^`]+`|[\w$]+)"""
# A table's name after CREATE TABLE / INSERT INTO, read without parsing the (long) rest.
_TABLE_NAME = re.compile(rf"\s*(?:IF\s+NOT\s+EXISTS\s+)?({_NAME}(?:\s*\.\s*{_NAME})?)", re.I)
_NAME_PART = re.compile(_NAME)

BATCH_PREFIX = "_alembic_tmp_"  # Alembic's batch mode copies a table into _alembic_tmp_<name>


@dataclass(frozen=True)
class Statement:
    """One statement that can produce a finding: its kind (its first keywords, upper case and
    single-spaced), its text as rendered (stripped, no ";") and, for CREATE TABLE and
    INSERT INTO, the table named (schema, name)."""

    kind: str
    text: str
    table: tuple[str | None, str] | None = None


def sqlglot_dialect(dialect: str) -> str:
    """sqlglot's name for a SQLAlchemy dialect name ("" is sqlglot's generic SQL)."""
    return _DIALECTS.get(dialect.lower(), "")


def statements(sql: str, dialect: str) -> Iterator[Statement]:
    """The statements of ``sql`` (for sqlglot's ``dialect``) that can produce a finding."""
    scanner = _SCANNERS.get(dialect, _SCANNERS[""])
    start = 0
    for match in scanner.finditer(sql):
        if match.lastgroup == "end":
            yield from _candidate(sql[start : match.start()], dialect)
            start = match.end()
    yield from _candidate(sql[start:], dialect)


def _candidate(chunk: str, dialect: str) -> Iterator[Statement]:
    text = chunk[_LEADING_COMMENTS.match(chunk).end() :].strip()
    head = _HEAD.match(text)
    if head is None:
        return
    kind = " ".join(head["kind"].upper().split())
    if kind == "CREATE INDEX" and dialect != "postgres":
        return  # only PostgreSQL's index builds lock; elsewhere only a unique one can fail
    if kind in OPENS | CLOSES and dialect != "postgres":
        return  # only PostgreSQL has CONCURRENTLY, which a transaction refuses
    table = None
    if kind in ("CREATE TABLE", "INSERT INTO"):
        name = _TABLE_NAME.match(text, head.end())
        if name is None:
            return
        table = name_key(_NAME_PART.findall(name[1]))
        if kind == "INSERT INTO" and not table[1].startswith(BATCH_PREFIX):
            return  # data, not schema: only a batch copy's INSERT matters
    yield Statement(kind, text, table)


def name_key(parts: list[str]) -> tuple[str | None, str]:
    """(schema, name) of a possibly qualified, possibly quoted name, as a step compares them:
    a quoted part keeps its case, an unquoted one is folded to lower case."""
    folded = [p[1:-1] if p[0] in '"`' else p.lower() for p in parts]
    return (folded[-2] if len(folded) > 1 else None, folded[-1])


def identifier_key(identifier: exp.Identifier | None) -> str | None:
    """An identifier as :func:`name_key` folds it."""
    if identifier is None:
        return None
    return identifier.this if identifier.quoted else identifier.this.lower()


def table_key(table: exp.Table) -> tuple[str | None, str]:
    """(schema, name) of a parsed table, folded as :func:`name_key` folds them."""
    return (identifier_key(table.args.get("db")), identifier_key(table.this) or "")


class _CommandFallback(logging.Filter):
    """Drop sqlglot's warning when it reads a statement as a bare Command (the analyzer then
    looks at that statement's text itself), so each plan does not log it again."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


logging.getLogger("sqlglot").addFilter(_CommandFallback())


@functools.lru_cache(maxsize=4096)
def parse(text: str, dialect: str) -> exp.Expression | None:
    """``text`` parsed for sqlglot's ``dialect``; None when sqlglot cannot read it.

    Cached: a plan and the guard of the change that follows read the same statements, and
    callers only read the tree."""
    try:
        trees = Dialect.get_or_raise(dialect).parse(text)
    except Exception:  # a statement sqlglot cannot read produces no finding; it never fails
        return None  # the plan (sqlglot raises several kinds, not all SqlglotError)
    return next((tree for tree in trees if tree is not None), None)
