"""A column definition read for what adding it risks: NOT NULL with nothing to fill existing
rows (MF103, MY101), and on PostgreSQL a value per row that rewrites the table (PG302)."""

from __future__ import annotations

from sqlglot import exp

from api.service.risk.step import Step, qualified

# Functions PostgreSQL marks volatile (pg_proc.provolatile = 'v'): as a new column's DEFAULT
# each row needs its own value, so the table is rewritten. now() and CURRENT_TIMESTAMP are
# only stable: PostgreSQL 11 and later store them once, with no rewrite.
_VOLATILE_FUNCTIONS = {
    "clock_timestamp",
    "gen_random_uuid",
    "nextval",
    "random",
    "random_normal",
    "timeofday",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "uuidv4",
    "uuidv7",
}
# random() and gen_random_uuid() as sqlglot reads them.
_VOLATILE_NODES = (exp.Rand, exp.Randn, exp.Uuid)
_SERIAL = {exp.DataType.Type.SERIAL, exp.DataType.Type.BIGSERIAL, exp.DataType.Type.SMALLSERIAL}
_FILLED_BY_DATABASE = (
    exp.AutoIncrementColumnConstraint,
    exp.ComputedColumnConstraint,
    exp.GeneratedAsIdentityColumnConstraint,
)


def _kinds(column: exp.ColumnDef) -> list[exp.Expression]:
    return [c.args.get("kind") for c in column.args.get("constraints") or []]


def not_null(column: exp.ColumnDef) -> bool:
    """Whether the definition says NOT NULL (MySQL's explicit NULL does not count)."""
    return any(
        isinstance(kind, exp.NotNullColumnConstraint) and not kind.args.get("allow_null")
        for kind in _kinds(column)
    )


def _default(column: exp.ColumnDef) -> exp.DefaultColumnConstraint | None:
    return next((k for k in _kinds(column) if isinstance(k, exp.DefaultColumnConstraint)), None)


def _from_sequence(column: exp.ColumnDef) -> bool:
    datatype = column.args.get("kind")
    serial = isinstance(datatype, exp.DataType) and datatype.this in _SERIAL
    identity = any(isinstance(k, exp.GeneratedAsIdentityColumnConstraint) for k in _kinds(column))
    return serial or identity


def filled(column: exp.ColumnDef) -> bool:
    """Whether existing rows get a value: a DEFAULT, a sequence, an expression."""
    return (
        _default(column) is not None
        or _from_sequence(column)
        or any(isinstance(k, _FILLED_BY_DATABASE) for k in _kinds(column))
    )


def added(step: Step, statement: str, table: exp.Table, column: exp.ColumnDef) -> None:
    """ALTER TABLE ... ADD COLUMN on a table that existed before this step."""
    name = f"{qualified(table.db, table.name)}.{column.name}"
    where = {"table": table.name, "column": column.name, "schema": table.db or None}
    if not_null(column) and not filled(column):
        if step.mysql:
            detail = f"Adds column {name} NOT NULL without a DEFAULT: MySQL and MariaDB fill the "
            detail += "rows already there with 0, '' or a zero date."
            step.add("MY101", statement, detail, **where)
        else:
            detail = f"Adds column {name} NOT NULL without a DEFAULT: it fails if the table "
            step.add("MF103", statement, detail + "holds any row.", **where)
    if not step.postgresql:
        return
    default = _default(column)
    if _from_sequence(column):
        why = "a sequence"
    elif default is not None and _volatile(default):
        why = f"a volatile DEFAULT ({default.this.sql('postgres')})"
    else:
        return
    step.add(
        "PG302",
        statement,
        f"Adds column {name} filled from {why}: PostgreSQL rewrites the whole table under an "
        "ACCESS EXCLUSIVE lock that blocks reads and writes.",
        **where,
    )


def _volatile(default: exp.DefaultColumnConstraint) -> bool:
    for node in default.find_all(exp.Func):
        if isinstance(node, _VOLATILE_NODES):
            return True
        if isinstance(node, exp.Anonymous) and node.name.lower() in _VOLATILE_FUNCTIONS:
            return True
    return False
