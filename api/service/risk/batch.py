"""Alembic's batch mode (SQLite's ALTER): copy to _alembic_tmp_<t>, drop <t>, rename back.

Read as what it is: the DROP loses nothing that was copied; a column of <t> the copy leaves
out is lost (DS103), a column it copies under another name is renamed (BC102), and a new
column NOT NULL without a DEFAULT makes the copy fail on any row (MF103)."""

from __future__ import annotations

from sqlglot import exp

from api.service.risk.new_columns import filled, not_null
from api.service.risk.statements import BATCH_PREFIX, Statement, identifier_key, parse
from api.service.risk.step import BatchCopy, Step


def temporary_table(step: Step, statement: Statement) -> None:
    """CREATE TABLE _alembic_tmp_<t>: remember the copy, and its required columns."""
    schema, name = statement.table
    tree = parse(statement.text, step.dialect)
    required: dict[str, str] = {}
    body = tree.this if isinstance(tree, exp.Create) else None
    for column in body.expressions if isinstance(body, exp.Schema) else []:
        if isinstance(column, exp.ColumnDef) and not_null(column) and not filled(column):
            required[identifier_key(column.this) or ""] = column.name
    step.copies[statement.table] = BatchCopy((schema, name[len(BATCH_PREFIX) :]), required)


def copied(step: Step, statement: Statement, tree: exp.Insert) -> None:
    """INSERT INTO _alembic_tmp_<t> (...) SELECT ... FROM <t>: what the copy keeps."""
    copy = step.copies.get(statement.table)
    target = tree.this
    select = tree.expression
    if copy is None or not isinstance(target, exp.Schema) or not isinstance(select, exp.Select):
        return
    table = target.this.name[len(BATCH_PREFIX) :]
    schema = copy.original[0]
    where = {"table": table, "schema": schema}
    into = [identifier_key(column) for column in target.expressions]
    kept: set[str] = set()  # folded to lower case: SQLite's names are case-insensitive
    for new, value in zip(target.expressions, select.expressions, strict=False):
        kept.update(source.name.lower() for source in value.find_all(exp.Column))
        if isinstance(value, exp.Column) and identifier_key(value.this) != identifier_key(new):
            step.add(
                "BC102",
                statement.text,
                f"Renames column {table}.{value.name} to {new.name} (a batch copy of the table): "
                "code still using the old name fails until the release that uses the new one is "
                "deployed.",
                column=value.name,
                **where,
            )
    for key, name in copy.required.items():
        if key not in into:
            step.add(
                "MF103",
                statement.text,
                f"Adds column {table}.{name} NOT NULL without a DEFAULT (a batch copy of the "
                "table): the copy fails if the table holds any row.",
                column=name,
                **where,
            )
    before = step.columns_before(table) if step.columns_before else None
    for name in before or []:  # unknown columns: nothing is reported lost, never guessed
        if name.lower() not in kept:
            step.add(
                "DS103",
                statement.text,
                f"Rebuilds table {table} without its column {name} (a batch copy of the table): "
                "every value in it is lost.",
                column=name,
                **where,
            )
