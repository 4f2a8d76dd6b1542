"""What the live database holds where a plan's finding points: whether a table has rows (and
about how many), whether a column holds values. Each question is one bounded query."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection

# Rows counted exactly up to here; past it, the catalogue's estimate (PostgreSQL's reltuples,
# InnoDB's TABLE_ROWS) stands in, so a fact never scans a large table whole.
COUNT_CAP = 10_000


class LiveFacts:
    """Facts of one database, read on one connection and remembered for one plan."""

    def __init__(self, connection: Connection):
        self._conn = connection
        self._inspector = sa.inspect(connection)
        self._tables: dict[str | None, dict[str, str]] = {}
        self._cache: dict[tuple, dict] = {}

    def table(self, name: str, schema: str | None = None) -> dict:
        """``{"exists", "has_rows", "rows_estimate"}`` of the table as it is now."""
        key = ("table", schema, name)
        if key not in self._cache:
            self._cache[key] = self._table(name, schema)
        return self._cache[key]

    def column(
        self, table: str, column: str, schema: str | None = None, nulls: bool = False
    ) -> dict:
        """The table's facts, and ``column_exists`` and ``has_values`` (a non-null value);
        with ``nulls``, ``has_nulls`` (what a NOT NULL would fail on: may scan the table)."""
        key = ("column", schema, table, column, nulls)
        if key not in self._cache:
            facts = dict(self.table(table, schema))
            real = self._column_name(table, column, schema) if facts["exists"] else None
            facts["column_exists"] = real is not None
            filled = real is not None and facts["has_rows"]
            clause = self._table_clause(table, schema, real) if filled else None
            facts["has_values"] = filled and self._any(clause, sa.column(real).is_not(None))
            if nulls:
                facts["has_nulls"] = filled and self._any(clause, sa.column(real).is_(None))
            self._cache[key] = facts
        return self._cache[key]

    def schema(self, name: str) -> dict:
        """``{"exists", "tables", "has_rows"}``: whether any of the schema's tables has rows."""
        key = ("schema", name)
        if key not in self._cache:
            exists = name in self._inspector.get_schema_names()
            tables = sorted(self._names(name).values()) if exists else []
            has_rows = any(self.table(t, name)["has_rows"] for t in tables)
            self._cache[key] = {"exists": exists, "tables": len(tables), "has_rows": has_rows}
        return self._cache[key]

    # -- the queries ------------------------------------------------------------------------

    def _names(self, schema: str | None) -> dict[str, str]:
        # Folded names -> real ones: the SQL may spell a name unquoted (PostgreSQL folds it to
        # lower case, MariaDB on Linux keeps it), the catalogue has it as stored.
        if schema not in self._tables:
            names = self._inspector.get_table_names(schema=schema)
            self._tables[schema] = {n.lower(): n for n in names}
        return self._tables[schema]

    def _table_name(self, name: str, schema: str | None) -> str | None:
        names = self._names(schema)
        return name if name in names.values() else names.get(name.lower())

    def _column_name(self, table: str, column: str, schema: str | None) -> str | None:
        real = self._table_name(table, schema)
        columns = [c["name"] for c in self._inspector.get_columns(real, schema=schema)]
        if column in columns:
            return column
        return next((c for c in columns if c.lower() == column.lower()), None)

    def _table_clause(self, name: str, schema: str | None, *columns: str) -> sa.TableClause:
        real = self._table_name(name, schema)
        return sa.table(real, *(sa.column(c) for c in columns), schema=schema)

    def _table(self, name: str, schema: str | None) -> dict:
        if self._table_name(name, schema) is None:
            return {"exists": False, "has_rows": False, "rows_estimate": 0}
        table = self._table_clause(name, schema)
        limited = sa.select(sa.literal(1)).select_from(table).limit(COUNT_CAP + 1).subquery()
        rows = self._conn.scalar(sa.select(sa.func.count()).select_from(limited))
        if rows > COUNT_CAP:
            rows = max(rows, self._catalogue_estimate(self._table_name(name, schema), schema))
        return {"exists": True, "has_rows": rows > 0, "rows_estimate": int(rows)}

    def _any(self, table: sa.TableClause, condition) -> bool:
        query = sa.select(sa.literal(1)).select_from(table).where(condition).limit(1)
        return self._conn.scalar(query) is not None

    def _catalogue_estimate(self, name: str, schema: str | None) -> int:
        dialect = self._conn.dialect.name
        if dialect == "postgresql":
            qualified = f'"{schema}"."{name}"' if schema else f'"{name}"'
            query = "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%(n)s)"
            return int(self._conn.exec_driver_sql(query, {"n": qualified}).scalar() or 0)
        if dialect in ("mysql", "mariadb"):
            query = (
                "SELECT TABLE_ROWS FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = COALESCE(%(s)s, DATABASE()) AND TABLE_NAME = %(n)s"
            )
            return int(self._conn.exec_driver_sql(query, {"s": schema, "n": name}).scalar() or 0)
        return 0
