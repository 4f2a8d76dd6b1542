"""What a revision step risks, read from its SQL: data lost, names changed, changes that may
fail on the data there, locks and rewrites. Pure: no Alembic, no Flask, no database."""

from api.service.risk.analyzer import analyze, in_transaction_after
from api.service.risk.codes import CODES, Code, codes_markdown
from api.service.risk.findings import Finding, alembic_finding

__all__ = [
    "CODES",
    "Code",
    "Finding",
    "alembic_finding",
    "analyze",
    "codes_markdown",
    "in_transaction_after",
]
