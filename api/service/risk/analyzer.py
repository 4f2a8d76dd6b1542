"""The findings of one revision step's SQL, as Alembic rendered it for one dialect."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp

from api.service.risk import batch, columns, tables
from api.service.risk.findings import Finding
from api.service.risk.statements import (
    BATCH_PREFIX,
    CLOSES,
    OPENS,
    parse,
    sqlglot_dialect,
    statements,
)
from api.service.risk.step import Step

_TRANSACTION_WORD = re.compile(r"\b(?:BEGIN|START|COMMIT)\b", re.I)


def analyze(
    sql: str,
    dialect: str,
    columns_before: Callable[[str], list[str] | None] | None = None,
    in_transaction: bool = False,
) -> list[Finding]:
    """Findings of one revision step's SQL, in the order of its statements.

    :param dialect: SQLAlchemy's name: "postgresql", "mysql" or "mariadb", "sqlite" (any
        other is read as generic SQL: the DS, BC and MF findings still apply).
    :param columns_before: the columns a table (by its name as the SQL writes it, without
        schema) has before this step, or None when unknown; it tells which columns Alembic's
        SQLite batch copy leaves out. Without it, such a copy reports nothing lost.
    :param in_transaction: whether the step starts inside a transaction its SQL does not
        open itself (Alembic runs a PostgreSQL revision in one: see
        :func:`in_transaction_after`); its own BEGIN and COMMIT are followed.

    Each step is analysed on its own: a table the step itself creates holds no rows yet,
    so what the step does to it afterwards is no risk."""
    step = Step(sqlglot_dialect(dialect), columns_before, in_transaction)
    for statement in statements(sql, step.dialect):
        if statement.kind in OPENS or statement.kind in CLOSES:
            step.in_transaction = statement.kind in OPENS
            continue
        if statement.kind == "CREATE TABLE":
            step.created.add(statement.table)
            if statement.table[1].startswith(BATCH_PREFIX):
                batch.temporary_table(step, statement)
            continue
        tree = parse(statement.text, step.dialect)
        if isinstance(tree, exp.Alter):
            columns.alter_table(step, statement.text, tree)
        elif isinstance(tree, exp.Drop):
            tables.drop(step, statement.text, tree)
        elif isinstance(tree, exp.Create) and tree.args.get("kind") == "INDEX":
            tables.create_index(step, statement.text, tree)
        elif isinstance(tree, exp.Insert):
            batch.copied(step, statement, tree)
        elif isinstance(tree, exp.Command) and statement.kind == "RENAME TABLE":
            tables.rename_table_command(step, statement.text)
        elif tree is None and statement.kind in ("DROP SCHEMA", "DROP INDEX"):
            tables.drop_list(step, statement.text)
    return step.findings


def in_transaction_after(sql: str, dialect: str, before: bool) -> bool:
    """Whether a transaction is open after ``sql`` (SQL as Alembic renders it offline, with
    its BEGIN and COMMIT), given whether one was ``before`` it. A step's SQL is cut from the
    chain's, so the transaction it starts in was opened before it: by the chain's first
    BEGIN, or after the autocommit_block() of an earlier step."""
    if _TRANSACTION_WORD.search(sql) is None:  # most steps: no statement to read
        return before
    for statement in statements(sql, sqlglot_dialect(dialect)):
        if statement.kind in OPENS or statement.kind in CLOSES:
            before = statement.kind in OPENS
    return before
