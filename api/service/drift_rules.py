"""The known false positives of Alembic's model comparison: differences it reports between the
models and a database that a migration of those very models produced.

Each rule was seen on a real database (tests/test_drift_rules.py shows each one there); a
difference a rule matches is still reported, marked ``false_positive`` with the rule's name,
and left out of ``ok``. Teams turn `flask db check` off over these; they must not have to.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa

_CAST = re.compile(r"::[a-z_ ]+(\(\d+(,\s*\d+)?\))?(\[\])?$")
_NOW = {"now()", "current_timestamp", "current_timestamp()", "localtimestamp", "localtimestamp()"}
_TRUE, _FALSE = {"true", "1", "b'1'"}, {"false", "0", "b'0'"}


@dataclass(frozen=True)
class Seen:
    """One difference as a rule sees it: the dialect, Alembic's kind, the column's type (the
    database's) and both sides, defaults as SQL text, types as objects."""

    dialect: str
    kind: str
    column_type: sa.types.TypeEngine | None
    database: object
    model: object


def spelling(sql: str | None) -> str | None:
    """A default as the database would evaluate it: no outer parentheses, no trailing
    PostgreSQL cast, one pair of quotes undone (''), keywords lower case."""
    if sql is None:
        return None
    text = sql.strip()
    while True:
        before = text
        if text.startswith("(") and text.endswith(")"):
            text = text[1:-1].strip()
        text = _CAST.sub("", text.lower() if not text.startswith("'") else text).strip()
        if text == before:
            break
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    return text.lower()


def _default_spelling(seen: Seen) -> bool:
    return seen.kind == "modify_default" and spelling(seen.database) == spelling(seen.model)


def _number(sql) -> Decimal | None:
    try:
        return Decimal(spelling(sql))
    except (InvalidOperation, TypeError, ValueError):
        return None


def _numeric_default(seen: Seen) -> bool:
    if seen.kind != "modify_default":
        return False
    database, model = _number(seen.database), _number(seen.model)
    return database is not None and database == model


def _is_boolean(type_) -> bool:
    if isinstance(type_, sa.Boolean):
        return True
    # MariaDB/MySQL keep a Boolean as TINYINT(1).
    return type(type_).__name__ == "TINYINT" and getattr(type_, "display_width", None) == 1


def _boolean_default(seen: Seen) -> bool:
    if seen.kind != "modify_default" or not _is_boolean(seen.column_type):
        return False
    sides = spelling(seen.database), spelling(seen.model)
    return set(sides) <= _TRUE or set(sides) <= _FALSE


def _current_timestamp(seen: Seen) -> bool:
    return (
        seen.kind == "modify_default"
        and spelling(seen.database) in _NOW
        and spelling(seen.model) in _NOW
    )


def _float_bytes(type_, dialect: str) -> int | None:
    """How many bytes a floating-point type keeps on ``dialect`` (None: not a float)."""
    if not isinstance(type_, sa.Float):
        return None
    if dialect == "sqlite":
        return 8  # SQLite keeps every REAL in 8 bytes
    name = type(type_).__name__.upper()
    if isinstance(type_, sa.Double) or name in ("DOUBLE", "DOUBLE_PRECISION"):
        return 8
    if name == "REAL":
        return 4 if dialect == "postgresql" else 8  # MySQL's REAL is a DOUBLE
    precision = getattr(type_, "precision", None)
    if precision is None:
        return 8 if dialect == "postgresql" else 4
    return 4 if precision <= 24 else 8


def _float_precision(seen: Seen) -> bool:
    if seen.kind != "modify_type":
        return False
    database = _float_bytes(seen.database, seen.dialect)
    return database is not None and database == _float_bytes(seen.model, seen.dialect)


def _sqlite_varchar_length(seen: Seen) -> bool:
    # SQLite keeps any length of text in a VARCHAR(n): the n is a comment.
    return (
        seen.dialect == "sqlite"
        and seen.kind == "modify_type"
        and isinstance(seen.database, sa.String)
        and isinstance(seen.model, sa.String)
        and not isinstance(seen.database, sa.Text | sa.Enum)
        and not isinstance(seen.model, sa.Text | sa.Enum)
    )


# name -> (the dialects it was seen on, the test). The first that matches names the rule.
RULES: dict[str, tuple[frozenset[str] | None, Callable[[Seen], bool]]] = {
    "default_spelling": (None, _default_spelling),
    "numeric_default": (None, _numeric_default),
    "boolean_default": (frozenset({"mysql", "mariadb"}), _boolean_default),
    "current_timestamp_spelling": (None, _current_timestamp),
    "float_precision": (None, _float_precision),
    "sqlite_varchar_length": (frozenset({"sqlite"}), _sqlite_varchar_length),
}


def false_positive(seen: Seen) -> str | None:
    """The name of the first rule that marks ``seen`` a false positive, or None."""
    for name, (dialects, matches) in RULES.items():
        if (dialects is None or seen.dialect in dialects) and matches(seen):
            return name
    return None
