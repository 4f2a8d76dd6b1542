"""What one revision step has done so far, as the analyzer reads its statements in order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from api.service.risk.findings import Finding, finding

Key = tuple[str | None, str]  # (schema, name), folded as statements.name_key folds them


@dataclass
class BatchCopy:
    """An Alembic batch copy under way: the table it replaces, and the columns of its
    temporary table that are NOT NULL without a DEFAULT (by folded name -> name)."""

    original: Key
    required: dict[str, str]


@dataclass
class Step:
    """The state of one step's analysis: what it created, copied and dropped so far, and
    the findings."""

    dialect: str  # sqlglot's name
    columns_before: Callable[[str], list[str] | None] | None
    # Whether the statement being read runs inside a transaction (BEGIN ... COMMIT).
    in_transaction: bool = False
    # Tables this step created: what is done to them afterwards risks no existing data.
    created: set[Key] = field(default_factory=set)
    # Tables a batch copy re-created: the indexes that follow it come back as they were.
    rebuilt: set[Key] = field(default_factory=set)
    copies: dict[Key, BatchCopy] = field(default_factory=dict)  # temporary table -> copy
    dropped_indexes: set[str] = field(default_factory=set)
    created_indexes: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)

    @property
    def postgresql(self) -> bool:
        return self.dialect == "postgres"

    @property
    def mysql(self) -> bool:
        return self.dialect == "mysql"

    def is_new(self, key: Key) -> bool:
        """Whether the table was created (or re-created by a batch copy) in this step."""
        return key in self.created or key in self.rebuilt

    def being_copied(self, key: Key) -> bool:
        """Whether a batch copy of this table is under way (its DROP is part of the copy)."""
        return any(copy.original == key for copy in self.copies.values())

    def add(self, code: str, statement: str, detail: str, **where: str | None) -> None:
        """Record a finding of ``code`` (``where``: table, column, schema)."""
        self.findings.append(finding(code, statement, detail, **where))


def qualified(schema: str | None, name: str) -> str:
    """A table's name as a finding's detail shows it."""
    return f"{schema}.{name}" if schema else name
