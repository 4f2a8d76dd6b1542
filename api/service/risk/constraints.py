"""Findings of ALTER TABLE ... ADD [CONSTRAINT]: unique, primary key, check, foreign key."""

from __future__ import annotations

from sqlglot import exp

from api.service.risk.statements import identifier_key
from api.service.risk.step import Step, qualified


def added(
    step: Step, statement: str, table: exp.Table, action: exp.AddConstraint, not_valid: bool
) -> None:
    """Each constraint one ADD adds to a table that existed before this step."""
    for expression in action.expressions:
        if isinstance(expression, exp.Constraint):
            name, kinds = expression.this, expression.expressions
        else:  # "ADD UNIQUE (c)", "ADD PRIMARY KEY (c)": a constraint without a name
            name, kinds = None, [expression]
        for kind in kinds:
            _one(step, statement, table, name, kind, not_valid)


def _one(
    step: Step,
    statement: str,
    table: exp.Table,
    name: exp.Identifier | None,
    kind: exp.Expression,
    not_valid: bool,
) -> None:
    on = qualified(table.db, table.name)
    named = f" {name.name}" if name else ""
    where = {"table": table.name, "schema": table.db or None}
    if isinstance(kind, exp.UniqueColumnConstraint):
        columns = _columns(kind)
        if len(columns) == 1:
            where["column"] = columns[0]
        listed = f"{on} ({', '.join(columns)})"
        # Alembic makes an index unique by dropping it and creating it again, unique.
        code = "MF102" if name and identifier_key(name) in step.dropped_indexes else "MF101"
        verb = "Makes" if code == "MF102" else "Adds"
        step.add(
            code,
            statement,
            f"{verb} unique constraint{named} on {listed}: it fails if rows already there hold "
            "duplicate values.",
            **where,
        )
        if step.postgresql:
            step.add(
                "PG105",
                statement,
                f"Adds unique constraint{named} on {listed}: PostgreSQL builds its index under an "
                "ACCESS EXCLUSIVE lock that blocks reads and writes.",
                **where,
            )
    elif isinstance(kind, exp.PrimaryKey) and step.postgresql:
        step.add(
            "PG104",
            statement,
            f"Adds primary key{named} to {on}: PostgreSQL builds its index under an ACCESS "
            "EXCLUSIVE lock that blocks reads and writes.",
            **where,
        )
    elif isinstance(kind, exp.CheckColumnConstraint) and step.postgresql and not not_valid:
        step.add(
            "PG305",
            statement,
            f"Adds check constraint{named} to {on} without NOT VALID: PostgreSQL scans the "
            "whole table under an ACCESS EXCLUSIVE lock that blocks reads and writes.",
            **where,
        )
    elif isinstance(kind, exp.ForeignKey) and step.postgresql and not not_valid:
        reference = kind.args.get("reference")
        target = reference.find(exp.Table) if reference else None
        referenced = f" and {qualified(target.db, target.name)}" if target else ""
        step.add(
            "PG306",
            statement,
            f"Adds foreign key{named} to {on} without NOT VALID: PostgreSQL checks every row "
            f"while writes to {on}{referenced} wait.",
            **where,
        )
    elif isinstance(kind, exp.ForeignKey) and step.mysql:
        step.add(
            "MY131",
            statement,
            f"Adds foreign key{named} to {on}: with foreign_key_checks on, MySQL and MariaDB "
            "copy the whole table and block writes until the copy is done.",
            **where,
        )


def _columns(unique: exp.UniqueColumnConstraint) -> list[str]:
    schema = unique.this
    if not isinstance(schema, exp.Schema):
        return []
    return [column.name for column in schema.expressions]
