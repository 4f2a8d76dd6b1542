"""What a revision step risks, read from its SQL: data lost, names changed, changes that may
fail on the data there, locks and rewrites. Pure: no Alembic, no Flask, no database."""

from api.service.risk.codes import CODES, Code, codes_markdown
from api.service.risk.findings import Finding, alembic_finding


def __getattr__(name: str):
    # The analyzer loads sqlglot: on the first plan, not at every
    # process's start (each service process and each test server imports this package):
    # importing wsgi took 2.18 s instead of 2.31 s (median of 7, -X importtime).
    if name in ("analyze", "in_transaction_after"):
        from api.service.risk import analyzer

        return getattr(analyzer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CODES",
    "Code",
    "Finding",
    "alembic_finding",
    "analyze",
    "codes_markdown",
    "in_transaction_after",
]
