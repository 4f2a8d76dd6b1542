"""Findings of ALTER TABLE: columns dropped, added, renamed and changed, constraints added."""

from __future__ import annotations

from sqlglot import exp

from api.service.risk import constraints, new_columns, tables
from api.service.risk.statements import identifier_key, table_key
from api.service.risk.step import Step, qualified


def alter_table(step: Step, statement: str, tree: exp.Alter) -> None:
    """Each action of one ALTER TABLE statement."""
    table = tree.this
    if not isinstance(table, exp.Table):
        return
    key = table_key(table)
    for action in tree.args.get("actions") or []:
        if isinstance(action, exp.AlterRename) and _renames_column(tree):
            _renamed_column(step, statement, table, action.this, tree.args["options"][0].this)
        elif isinstance(action, exp.AlterRename):
            _renamed_table(step, statement, table, action.this)
        elif key in step.created:
            continue  # a table this step created: no row is there to lose, lock or check
        elif isinstance(action, exp.RenameColumn):
            _renamed_column(step, statement, table, action.this, action.args["to"])
        elif isinstance(action, exp.Drop):
            _dropped(step, statement, table, action)
        elif isinstance(action, exp.ColumnDef):
            new_columns.added(step, statement, table, action)
        elif isinstance(action, exp.AlterColumn):
            _altered_column(step, statement, table, action)
        elif isinstance(action, exp.ModifyColumn):
            _modified_column(step, statement, table, action)
        elif isinstance(action, exp.AddConstraint):
            constraints.added(step, statement, table, action, not_valid=tree.args.get("not_valid"))


def _renames_column(tree: exp.Alter) -> bool:
    # PostgreSQL's "ALTER TABLE t RENAME c TO d" (COLUMN is optional, and Alembic leaves it
    # out): sqlglot reads it as a table rename of c, with "TO d" as an option of the ALTER.
    options = tree.args.get("options") or []
    return len(options) == 1 and isinstance(options[0], exp.ToTableProperty)


def _renamed_table(step: Step, statement: str, table: exp.Table, new: exp.Table) -> None:
    key = table_key(table)
    copy = step.copies.pop(key, None)
    if copy is not None:  # the end of a batch copy: the temporary table takes the old name
        step.rebuilt.add(copy.original)
        return
    if not new.db and table.db:
        new = exp.table_(new.this, db=table.args.get("db"))
    tables.rename_table(step, statement, table, new)


def _renamed_column(step: Step, statement: str, table: exp.Table, old, new) -> None:
    if table_key(table) in step.created:
        return
    step.add(
        "BC102",
        statement,
        f"Renames column {qualified(table.db, table.name)}.{old.name} to {new.name}: code still "
        "using the old name fails until the release that uses the new one is deployed.",
        table=table.name,
        column=old.name,
        schema=table.db or None,
    )


def _dropped(step: Step, statement: str, table: exp.Table, action: exp.Drop) -> None:
    kind = action.args.get("kind")
    for target in action.args.get("tables") or []:
        if kind == "COLUMN":
            step.add(
                "DS103",
                statement,
                f"Drops column {qualified(table.db, table.name)}.{target.name} and every value "
                "in it.",
                table=table.name,
                column=target.name,
                schema=table.db or None,
            )
        elif kind == "INDEX":  # MySQL's ALTER TABLE ... DROP INDEX
            tables.drop_index(step, statement, target)
        elif kind == "CONSTRAINT":  # a unique constraint's index goes with it
            step.dropped_indexes.add(identifier_key(target.this) or "")


def _altered_column(step: Step, statement: str, table: exp.Table, action: exp.AlterColumn) -> None:
    name = f"{qualified(table.db, table.name)}.{action.name}"
    where = {"table": table.name, "column": action.name, "schema": table.db or None}
    if action.args.get("allow_null") is False and not action.args.get("drop"):
        detail = f"Makes column {name} NOT NULL: it fails if any row holds NULL in it."
        step.add("MF104", statement, detail, **where)
        if step.postgresql:
            detail = f"Sets {name} NOT NULL: PostgreSQL scans the whole table under an ACCESS "
            step.add(
                "PG303", statement, detail + "EXCLUSIVE lock that blocks reads and writes.", **where
            )
    if action.args.get("dtype") is not None and step.postgresql:
        step.add(
            "PG301",
            statement,
            f"Changes the type of {name}: unless the old type converts without rewriting (a "
            "longer VARCHAR, VARCHAR to TEXT), PostgreSQL rewrites the table and its indexes "
            "under an ACCESS EXCLUSIVE lock that blocks reads and writes.",
            **where,
        )


def _modified_column(
    step: Step, statement: str, table: exp.Table, action: exp.ModifyColumn
) -> None:
    # MySQL's MODIFY and CHANGE restate the whole column, type and nullability, whatever
    # changed (Alembic renders every alter_column this way), so the old definition is unknown.
    column = action.this
    old = action.args.get("rename_from")
    if old is not None and identifier_key(old) != identifier_key(column.this):
        _renamed_column(step, statement, table, old, column)
        return
    name = f"{qualified(table.db, table.name)}.{column.name}"
    where = {"table": table.name, "column": column.name, "schema": table.db or None}
    step.add(
        "MY130",
        statement,
        f"Redefines column {name}: if its type changes, MySQL and MariaDB copy the whole table "
        "and block writes until the copy is done.",
        **where,
    )
    if new_columns.not_null(column):
        step.add(
            "MF104",
            statement,
            f"Makes column {name} NOT NULL: if it allowed NULL, it fails while any row holds "
            "NULL in it.",
            **where,
        )
