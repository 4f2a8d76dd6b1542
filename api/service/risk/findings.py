"""One finding of the analyzer, and the constructors that take its severity from the code table."""

from __future__ import annotations

from dataclasses import dataclass

from api.service.risk.codes import CODES


@dataclass(frozen=True)
class Finding:
    """What one statement of one revision step risks.

    ``loss`` names what existing data the statement destroys ("schema", "table" or "column");
    whether that data exists now is the caller's to check against the live database."""

    code: str
    severity: str  # "error" | "warning" | "info"
    statement: str  # the statement as rendered, stripped, without its ";"
    detail: str  # one sentence, ending with "."
    table: str | None = None
    column: str | None = None
    schema: str | None = None
    loss: str | None = None  # "schema" | "table" | "column"


def finding(
    code: str,
    statement: str,
    detail: str,
    *,
    table: str | None = None,
    column: str | None = None,
    schema: str | None = None,
) -> Finding:
    """A finding of ``code``, its severity and data loss taken from the code table."""
    entry = CODES[code]
    loss = None
    if entry.data_loss:
        loss = "column" if column else "table" if table else "schema"
    return Finding(
        code=code,
        severity=entry.severity,
        statement=statement,
        detail=detail,
        table=table,
        column=column,
        schema=schema,
        loss=loss,
    )


def alembic_finding(code: str, detail: str, statement: str = "") -> Finding:
    """A finding about a revision script itself (AL101-AL103), found by reading it with Alembic.

    :raises ValueError: ``code`` is not one of the Alembic codes."""
    if not code.startswith("AL") or code not in CODES:
        raise ValueError(f"{code!r} is not an Alembic finding code")
    return finding(code, statement, detail)
