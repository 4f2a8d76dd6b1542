"""A normalised picture of one database's schema (tables, columns, keys, indexes), to notice
what changed outside any migration by comparing two of them (api/service/schema_diff.py)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine.reflection import Inspector

from api.service import sqlite_schema

# Bumped when the picture's shape changes: pictures of two shapes are not compared.
FORMAT = 1


def take(connection: sa.Connection, exclude: set[str] = frozenset()) -> dict:
    """The tables of ``connection``'s default schema but those in ``exclude`` (the version
    table), as plain JSON data.

    The Inspector's ``get_multi_*`` calls read each catalogue once for every table on
    PostgreSQL (a query per table would make the picture taken after a 1,000-table upgrade
    cost a good part of it); MariaDB reads each table once and keeps it; SQLite has its own
    reader (api/service/sqlite_schema.py).
    """
    if connection.dialect.name == "sqlite":
        return {"format": FORMAT, "tables": sqlite_schema.tables(connection, exclude)}
    inspector = sa.inspect(connection)
    columns = inspector.get_multi_columns()
    keys = inspector.get_multi_pk_constraint()
    indexes = inspector.get_multi_indexes()
    uniques = _optional(inspector, "get_multi_unique_constraints")
    foreign = _optional(inspector, "get_multi_foreign_keys")
    dialect = connection.dialect
    tables = {}
    for schema_and_name, table_columns in columns.items():
        name = schema_and_name[1]
        if name in exclude:
            continue
        tables[name] = {
            "columns": {c["name"]: _column(c, dialect) for c in table_columns},
            "primary_key": list(keys.get(schema_and_name, {}).get("constrained_columns") or []),
            "indexes": _named(
                _index(i)
                for i in indexes.get(schema_and_name, ())
                if "duplicates_constraint" not in i
            ),
            "unique": _named(
                _unique(u) for u in uniques.get(schema_and_name, ()) if "duplicates_index" not in u
            ),
            "foreign_keys": _named(_foreign_key(f) for f in foreign.get(schema_and_name, ())),
        }
    return {"format": FORMAT, "tables": tables}


def _optional(inspector: Inspector, method: str) -> dict:
    """A catalogue some dialects do not reflect: then nothing (never a failed write)."""
    try:
        return getattr(inspector, method)()
    except NotImplementedError:
        return {}


def _column(column: dict, dialect: sa.Dialect) -> dict:
    try:
        type_ = str(column["type"].compile(dialect=dialect))
    except sa.exc.CompileError:  # a type reflected as NullType or a dialect's own
        type_ = repr(column["type"])
    picture = {
        "type": type_,
        "nullable": bool(column["nullable"]),
        "default": None if column.get("default") is None else str(column["default"]),
    }
    if column.get("computed"):
        picture["computed"] = str(column["computed"].get("sqltext"))
    return picture


def _index(index: dict) -> tuple[str | None, dict]:
    # An expression index has None among its column names and the expression beside it.
    expressions = index.get("expressions") or index["column_names"]
    columns = [str(e) for e in expressions]
    return index["name"], {"columns": columns, "unique": bool(index["unique"])}


def _unique(unique: dict) -> tuple[str | None, dict]:
    return unique["name"], {"columns": list(unique["column_names"])}


def _foreign_key(fk: dict) -> tuple[str | None, dict]:
    picture = {
        "columns": list(fk["constrained_columns"]),
        "referred_table": fk["referred_table"],
        "referred_columns": list(fk["referred_columns"]),
    }
    options = {k: v for k, v in (fk.get("options") or {}).items() if v is not None}
    if options:
        picture["options"] = options
    return fk["name"], picture


def _named(items) -> dict:
    """By name; an unnamed one (SQLite's foreign keys and inline unique constraints) by its
    columns, which is what tells it apart from another on that table."""
    named = {}
    for name, picture in items:
        named[name or "(" + ", ".join(picture["columns"]) + ")"] = picture
    return named
