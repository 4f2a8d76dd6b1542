"""Where the operation log lives beside the target database, and its table kept up to date."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.schema import CreateIndex, CreateTable

from api.service.database import reachable
from api.service.oplog.record import Operation, operations
from api.service.oplog.unwritten import Unwritten
from api.service.tenant_schema import log_schema, schema_of


class LogStore:
    """The log's engine, schema and connections; its table made on first write."""

    def __init__(self, target: Engine):
        self._target = target
        self._ready = False
        self._ready_lock = threading.Lock()
        dialect = target.dialect.name
        if dialect == "sqlite":
            path = target.url.database
            log_path = f"{path}.operations.sqlite" if path and path != ":memory:" else ""
            self.engine = sa.create_engine(f"sqlite:///{log_path}")
            self._schema = None
        else:
            self.engine = target
            # A tenant schema's log is a schema of its own (migrateway_<tenant>), not rows in
            # a shared one: its reads, its idempotency keys and its 'running' records can
            # never meet another tenant's, and the tenant's drift never sees its tables.
            self._schema = (
                log_schema(schema_of(target))
                if dialect == "postgresql"
                else f"{target.url.database}_migrateway"
            )
        self._options = {"schema_translate_map": {None: self._schema}} if self._schema else {}
        self._unwritten = Unwritten(operations, self._connect)

    @contextmanager
    def _connect(self) -> Iterator[sa.Connection]:
        """A connection to the log. Here, in _exists and in ensure, a database that cannot be
        reached (or went away mid-statement) raises DatabaseUnavailable: a 503 to retry.
        What the database could not take before is written first, so every read sees it."""
        with (
            reachable(self.engine),
            self.engine.connect().execution_options(**self._options) as conn,
        ):
            if self._unwritten:
                self._unwritten.write(conn)
            yield conn

    def _exists(self) -> bool:
        if self._ready:
            return True
        if self.engine.dialect.name == "sqlite" and self.engine is not self._target:
            path = self.engine.url.database
            if path and not os.path.exists(path):
                return False
        # Once seen, the table stays: later reads skip the catalogue query.
        with reachable(self.engine):
            if sa.inspect(self.engine).has_table("operations", schema=self._schema):
                with self._connect() as conn:
                    # The tables a log made by an earlier version lacks (webhook deliveries).
                    _create_tables(conn)
                    _add_missing_columns(conn, self._schema)
                self._ready = True
        return self._ready

    def ensure(self) -> None:
        """Create the log's schema and table on first write (never on a read)."""
        with self._ready_lock, reachable(self.engine):
            if self._ready:
                return
            with self.engine.begin() as conn:
                if self.engine.dialect.name == "postgresql":
                    conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
                elif self._schema:
                    conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{self._schema}`")
            with self._connect() as conn:
                _create_tables(conn)
                _add_missing_columns(conn, self._schema)
            self._ready = True


def _create_tables(conn) -> None:
    """Create the log's tables that are missing, with CREATE ... IF NOT EXISTS: another worker
    or replica may create one between a check and a CREATE, and on SQLite a retry of
    create_all(checkfirst=True) still failed "already exists" (seen under two test workers)."""
    for table in Operation.metadata.sorted_tables:
        conn.execute(CreateTable(table, if_not_exists=True))
        for index in table.indexes:
            conn.execute(CreateIndex(index, if_not_exists=True))
    conn.commit()


def _add_missing_columns(conn, schema: str | None) -> None:
    """Add the (nullable) columns a log made by an earlier version of the service lacks, so
    an upgrade of the service keeps its history."""
    have = {c["name"] for c in sa.inspect(conn).get_columns("operations", schema=schema)}
    missing = [c for c in operations.columns if c.name not in have]
    if not missing:
        return
    quote = conn.dialect.identifier_preparer
    table = quote.quote("operations")
    if schema is not None:
        table = f"{quote.quote_schema(schema)}.{table}"
    for column in missing:
        try:
            conn.exec_driver_sql(
                f"ALTER TABLE {table} ADD COLUMN {quote.quote(column.name)} "
                f"{column.type.compile(conn.dialect)}"
            )
            conn.commit()
        except sa.exc.DBAPIError:  # another worker added it meanwhile
            conn.rollback()
