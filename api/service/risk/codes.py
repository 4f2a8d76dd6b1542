"""The codes a plan's findings carry: the one table the analyzer, the API and the README share.

The numbers follow Atlas's analyzers (atlasgo.io/lint/analyzers) wherever Atlas has the same
check, with Atlas's meaning; where a number is ours, the comment beside it says so.
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"
INFO = "info"


@dataclass(frozen=True)
class Code:
    """One kind of finding: its code, how bad it is, a title, and whether it destroys data."""

    code: str
    severity: str
    title: str
    data_loss: bool = False


CODES: dict[str, Code] = {
    code.code: code
    for code in (
        # Destructive changes: they destroy what the database holds now.
        Code("DS101", ERROR, "Schema dropped, with every table in it", data_loss=True),
        Code("DS102", ERROR, "Table dropped", data_loss=True),
        Code("DS103", ERROR, "Column dropped (or left out of a SQLite batch copy)", data_loss=True),
        # Backward-incompatible changes: the running release still uses the old name.
        Code("BC101", WARNING, "Table renamed"),
        Code("BC102", WARNING, "Column renamed"),
        # Changes that might fail, depending on the data already there.
        Code("MF101", WARNING, "Unique index or constraint added on existing columns"),
        Code("MF102", WARNING, "Non-unique index made unique"),
        Code("MF103", WARNING, "NOT NULL column without a DEFAULT added to an existing table"),
        Code("MF104", WARNING, "Nullable column made NOT NULL"),
        # PostgreSQL: locks and rewrites.
        Code("PG101", WARNING, "Index created without CONCURRENTLY: writes wait"),
        Code("PG102", WARNING, "Index dropped without CONCURRENTLY: reads and writes wait"),
        # Atlas's "missing txmode none": in Alembic, outside op.get_context().autocommit_block().
        Code("PG103", ERROR, "Index created or dropped CONCURRENTLY inside a transaction: fails"),
        Code("PG104", WARNING, "PRIMARY KEY added under an ACCESS EXCLUSIVE lock"),
        Code("PG105", WARNING, "UNIQUE constraint added under an ACCESS EXCLUSIVE lock"),
        Code("PG301", WARNING, "Column type changed: the table may be rewritten"),
        Code("PG302", WARNING, "New column with a volatile DEFAULT or a sequence: table rewritten"),
        Code("PG303", WARNING, "SET NOT NULL scans the whole table"),
        Code("PG305", WARNING, "CHECK constraint added without NOT VALID: full scan"),
        # Atlas's later list numbers this one PG306; its docs before that stop at PG305.
        Code("PG306", WARNING, "Foreign key added without NOT VALID: full scan, writes wait"),
        # MySQL and MariaDB.
        Code("MY101", WARNING, "NOT NULL column without a DEFAULT: existing rows get zero values"),
        # Atlas's later list numbers a column type change MY130; its docs before that have none.
        Code("MY130", WARNING, "Column redefined (MODIFY/CHANGE): a type change copies the table"),
        # Atlas's later list too: with foreign_key_checks on, only ALGORITHM=COPY adds one.
        Code("MY131", WARNING, "Foreign key added: the table is copied, writes wait"),
        # Ours, for Alembic (Atlas has no revision scripts to read).
        Code("AL101", WARNING, "Downgrade does nothing while its upgrade changes the schema"),
        Code("AL102", ERROR, "Downgrade raises NotImplementedError"),
        Code("AL103", WARNING, "Step cannot be rendered offline: it needs a live connection"),
    )
}


def codes_markdown() -> str:
    """The code table as Markdown, exactly as the README shows it."""
    lines = [
        "| Code | Severity | What it means | Destroys data |",
        "|---|---|---|---|",
    ]
    for code in CODES.values():
        loss = "yes" if code.data_loss else ""
        lines.append(f"| {code.code} | {code.severity} | {code.title} | {loss} |")
    return "\n".join(lines) + "\n"
