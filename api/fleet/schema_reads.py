"""GET /targets' read of the tenant schemas of one PostgreSQL database, in batches on one
connection, without making their services.

A schema target's service reads its version table and its operation log (schema
``migrateway_<tenant>``) on connections of its own: a connection, a pool and the statements
compiled again per tenant: about 44 ms a tenant (1,000 took 44 s), over seven minutes for
10,000, and a second listing through the services made then exhausted max_connections. The matrix
needs two facts of each tenant; here they are read for BATCH tenants per statement
(``UNION ALL`` of one small SELECT per schema), each statement in its own transaction bounded by
``SET LOCAL statement_timeout`` and ``lock_timeout``: a listing waits on no lock long and
holds its few share locks for one statement only (a single status query across every tenant
schema once timed out and locked a team's database).

Anything this path is not sure of answers None for that tenant, and the caller asks its
service: a statement that failed or timed out (its tenants read one by one, then any still
failing by the service), an operation still marked running (the service settles it), a
schema whose log table lacks a column. Nothing is ever created.
"""

from __future__ import annotations

import sqlalchemy as sa

from api.fleet.quick_read import LastOperation, Status, utc
from api.service.oplog import RUNNING
from api.service.tenant_schema import log_schema

# Tenants per statement: a SELECT over 100 tenants takes a few hundred share locks (each table
# and its indexes) for its moment. PostgreSQL's lock table is sized for 64 per connection by
# default and shared: one statement over thousands of tables could exhaust it for everyone.
BATCH = 100
# A lock this read would wait for is a migration's or a DROP's: give up at once, ask the
# service later (it waits within TARGET_READ_TIMEOUT).
LOCK_TIMEOUT_MS = 200

_TABLES = (
    "SELECT n.nspname, c.relname FROM pg_catalog.pg_namespace n"
    " JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid"
    " AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"  # any relation a SELECT reads, as Alembic
    " WHERE n.nspname = ANY(%s) AND c.relname = ANY(%s)"
)


def read(
    engine: sa.Engine, schemas: list[str], version_table: str, timeout: float
) -> dict[str, Status | None]:
    """Each tenant schema's version rows and newest operation; None where the service must
    answer. Schemas that do not exist read as an empty database, as their services say.

    :raises sqlalchemy.exc.SQLAlchemyError: no connection could be had.
    """
    found: dict[str, Status | None] = {}
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        logs = {s: log_schema(s) for s in schemas}
        tables = _tables(conn, [*schemas, *logs.values()], [version_table, "operations"])
        for start in range(0, len(schemas), BATCH):
            batch = schemas[start : start + BATCH]
            try:
                found.update(_batch(conn, batch, logs, tables, version_table, timeout))
            except Exception:  # a lock, a timeout, a table gone: one by one, then the service
                conn.rollback()
                for schema in batch:
                    try:
                        found.update(_batch(conn, [schema], logs, tables, version_table, timeout))
                    except Exception:
                        conn.rollback()
                        found[schema] = None
    finally:
        raw.close()
    return found


def _tables(conn, schemas: list[str], names: list[str]) -> set[tuple[str, str]]:
    """Which of ``names`` exist as tables in which of ``schemas``: (schema, table)."""
    try:
        with conn.cursor() as cur:
            cur.execute(_TABLES, (schemas, names))
            return {(schema, table) for schema, table in cur.fetchall()}
    finally:
        conn.rollback()


def _batch(conn, batch, logs, tables, version_table, timeout) -> dict[str, Status | None]:
    versions = [i for i, s in enumerate(batch) if (s, version_table) in tables]
    logged = [i for i, s in enumerate(batch) if (logs[s], "operations") in tables]
    heads: dict[int, list[str]] = {i: [] for i in range(len(batch))}
    last: dict[int, object] = {}
    with conn.cursor() as cur:
        cur.execute(
            f"SET LOCAL statement_timeout = {max(int(timeout * 1000), 1)};"
            f" SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}"
        )
        if versions:
            cur.execute(_versions_sql({i: batch[i] for i in versions}, version_table))
            for i, version in cur.fetchall():
                heads[i].append(str(version))
        if logged:
            cur.execute(_last_sql({i: logs[batch[i]] for i in logged}))
            for i, op_id, kind, status, finished, running in cur.fetchall():
                operation = LastOperation(str(op_id), kind, status, utc(finished))
                last[i] = _UNSURE if running else operation
    conn.rollback()  # read only: nothing to keep, and every share lock goes now
    return {
        schema: None if last.get(i) is _UNSURE else Status(tuple(sorted(heads[i])), last.get(i))
        for i, schema in enumerate(batch)
    }


_UNSURE = object()  # the log holds a running operation: the service must settle it first


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _versions_sql(schemas: dict[int, str], table: str) -> str:
    """Each schema's version rows, labelled with its index in the batch."""
    return " UNION ALL ".join(
        f"SELECT {i}, version_num FROM {_quote(s)}.{_quote(table)}" for i, s in schemas.items()
    )


# The newest operation as the log's own page orders it (newest first, then by id), and
# whether any is still marked running.
def _last_sql(log_schemas: dict[int, str]) -> str:
    parts = []
    for i, schema in log_schemas.items():
        ops = f"{_quote(schema)}.operations"
        parts.append(
            f"(SELECT {i}, id, kind, status, finished_at,"
            f" EXISTS (SELECT 1 FROM {ops} WHERE status = '{RUNNING}')"
            f" FROM {ops} ORDER BY started_at DESC, id LIMIT 1)"
        )
    return " UNION ALL ".join(parts)
