"""Findings of statements on whole tables, schemas and indexes: DROP, CREATE INDEX, and
MySQL's RENAME TABLE."""

from __future__ import annotations

import re

from sqlglot import exp

from api.service.risk.statements import identifier_key, parse, table_key
from api.service.risk.step import Step, qualified

_QUALIFIED = r"""(?:`[^`]+`|"[^"]+"|[\w$]+)(?:\s*\.\s*(?:`[^`]+`|"[^"]+"|[\w$]+))?"""
_QUALIFIED_NAME = re.compile(_QUALIFIED)


def drop(step: Step, statement: str, tree: exp.Drop) -> None:
    """DROP SCHEMA / DATABASE (DS101), DROP TABLE (DS102), DROP INDEX (PG102)."""
    kind = tree.args.get("kind")
    for target in tree.args.get("tables") or []:
        if kind in ("SCHEMA", "DATABASE"):
            # sqlglot reads DROP SCHEMA's name as a Table's db, DROP DATABASE's as its name.
            schema = target.args.get("db") or target.this
            step.add(
                "DS101",
                statement,
                f"Drops schema {schema.name} and every table and row in it.",
                schema=schema.name,
            )
        elif kind == "TABLE":
            _drop_table(step, statement, target)
        elif kind == "INDEX":
            drop_index(step, statement, target, concurrently=tree.args.get("concurrently"))


# sqlglot 30 reads one name after DROP SCHEMA / DROP INDEX, where PostgreSQL takes a list.
_DROP_LIST = re.compile(
    r"(DROP\s+(?:SCHEMA|INDEX)\s+(?:CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?)(.+?)"
    r"(\s+(?:CASCADE|RESTRICT))?\s*$",
    re.I | re.S,
)


def drop_list(step: Step, statement: str) -> None:
    """DROP SCHEMA / INDEX a, b (which sqlglot cannot read): each name dropped on its own."""
    match = _DROP_LIST.match(statement)
    for name in _QUALIFIED_NAME.findall(match[2]) if match else []:
        tree = parse(f"{match[1]}{name}{match[3] or ''}", step.dialect)
        if isinstance(tree, exp.Drop):
            drop(step, statement, tree)


def _drop_table(step: Step, statement: str, table: exp.Table) -> None:
    key = table_key(table)
    if step.being_copied(key):
        return  # Alembic's batch copy: the rows were copied first; what it left out is DS103
    if key in step.created:
        step.created.discard(key)
        return  # created by this same step: nothing existed before it
    step.rebuilt.discard(key)
    step.add(
        "DS102",
        statement,
        f"Drops table {qualified(table.db or None, table.name)} and every row in it.",
        table=table.name,
        schema=table.db or None,
    )


def drop_index(step: Step, statement: str, index: exp.Table, concurrently: bool = False) -> None:
    """An index dropped (also by MySQL's ALTER TABLE ... DROP INDEX): PG102 on PostgreSQL,
    or PG103 when it is dropped CONCURRENTLY inside a transaction."""
    name = identifier_key(index.this) or ""
    step.dropped_indexes.add(name)
    if concurrently:
        _concurrently(step, statement, "Drops", index, schema=index.db or None)
    if not step.postgresql or concurrently or name in step.created_indexes:
        return
    step.add(
        "PG102",
        statement,
        f"Drops index {index.name} without CONCURRENTLY: reads and writes on its table wait "
        "until the drop is done, and so does every query queued behind it.",
        schema=index.db or None,
    )


def create_index(step: Step, statement: str, tree: exp.Create) -> None:
    """CREATE [UNIQUE] INDEX: MF101 (MF102 when the same index was dropped just before, as
    Alembic renders making an index unique), PG101 without CONCURRENTLY, and PG103 with it
    inside a transaction (on any table: PostgreSQL refuses the statement)."""
    index = tree.this
    table = index.args.get("table")
    if not isinstance(index, exp.Index) or not isinstance(table, exp.Table):
        return
    name = identifier_key(index.this) or ""
    step.created_indexes.add(name)
    if tree.args.get("concurrently"):
        _concurrently(step, statement, "Creates", index, table=table.name, schema=table.db or None)
    if step.is_new(table_key(table)):
        return  # a new table, or a batch copy putting back the indexes it had
    where = {"table": table.name, "schema": table.db or None}
    params = index.args.get("params")
    columns = [column.this for column in (params.args.get("columns") or [])] if params else []
    listed = ", ".join(column.sql(step.dialect) for column in columns)
    if len(columns) == 1 and isinstance(columns[0], exp.Column):
        where["column"] = columns[0].name
    on = f"{qualified(where['schema'], table.name)} ({listed})"
    if tree.args.get("unique"):
        if name in step.dropped_indexes:
            detail = f"Makes index {index.name} on {on} unique: it fails if rows already there "
            step.add("MF102", statement, detail + "hold duplicate values.", **where)
        else:
            detail = f"Adds unique index {index.name} on {on}: it fails if rows already there "
            step.add("MF101", statement, detail + "hold duplicate values.", **where)
    if step.postgresql and not tree.args.get("concurrently"):
        step.add(
            "PG101",
            statement,
            f"Creates index {index.name} on {on} without CONCURRENTLY: writes to "
            f"{table.name} wait until the whole index is built.",
            table=table.name,
            schema=table.db or None,
        )


def _concurrently(step: Step, statement: str, verb: str, index, **where: str | None) -> None:
    # PostgreSQL refuses CREATE/DROP INDEX CONCURRENTLY in a transaction block; Alembic runs
    # each revision in one, unless the statement is in op.get_context().autocommit_block().
    if not step.postgresql or not step.in_transaction:
        return
    step.add(
        "PG103",
        statement,
        f"{verb} index {index.name} CONCURRENTLY inside the revision's transaction, which "
        "PostgreSQL refuses: the revision fails unless the statement runs in "
        "op.get_context().autocommit_block().",
        **where,
    )


# sqlglot reads MySQL's RENAME TABLE as a bare Command; its "a TO b" pairs are plain enough.
_RENAME_PAIR = re.compile(rf"({_QUALIFIED})\s+TO\s+({_QUALIFIED})", re.I)


def rename_table_command(step: Step, statement: str) -> None:
    """MySQL's RENAME TABLE a TO b[, c TO d]: BC101 for each table that existed before."""
    for old, new in _RENAME_PAIR.findall(statement):
        rename_table(
            step, statement, exp.to_table(old, dialect="mysql"), exp.to_table(new, dialect="mysql")
        )


def rename_table(step: Step, statement: str, old: exp.Table, new: exp.Table) -> None:
    """A table renamed: BC101, unless this step created it."""
    if table_key(old) in step.created:
        step.created.add(table_key(new))
        return
    step.add(
        "BC101",
        statement,
        f"Renames table {qualified(old.db, old.name)} to {qualified(new.db, new.name)}: code "
        "still using the old name fails until the release that uses the new one is deployed.",
        table=old.name,
        schema=old.db or None,
    )
