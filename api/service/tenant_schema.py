"""Schema per tenant on PostgreSQL: an engine each of whose connections works in one schema.

As Alembic's cookbook does it ("Rudimental Schema-Level Multi Tenancy for PostgreSQL
Databases"): the connection's ``search_path`` is the tenant's schema alone and the dialect's
default schema is that schema, so env.py (never edited), its unqualified DDL, the
``alembic_version`` table and every read (reflection, the version rows, drift) act on the
tenant. The service owns the engine it hands env.py, so the setting rides on the engine's
``connect`` event and no connection escapes it.

A schema that does not exist yet reads as an empty database (nothing is visible on its
search_path: current is base, every revision pending); the first write creates it
(:func:`create`), never a read.
"""

from __future__ import annotations

import hashlib
import weakref

from sqlalchemy import Engine, event

from api.service.database import reachable

# Engine -> the tenant schema its connections work in (weakly: engines come and go in tests).
_schemas: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()

# PostgreSQL truncates longer identifiers (NAMEDATALEN - 1).
_MAX_IDENTIFIER = 63


def confine(engine: Engine, schema: str) -> None:
    """Make every connection ``engine`` opens from now on work in ``schema``."""
    quoted = engine.dialect.identifier_preparer.quote_identifier(schema)

    def set_search_path(dbapi_connection, _record) -> None:
        # SET in autocommit: inside a transaction it would be undone by the pool's rollback.
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        try:
            # The tenant's schema alone: with public after it, a tenant without its own
            # alembic_version would read public's.
            cursor.execute(f"SET search_path TO {quoted}")
        finally:
            cursor.close()
            dbapi_connection.autocommit = autocommit
        # Reflection and Alembic's autogenerate take the default schema from here; the
        # dialect learnt it on the first connection, before this listener ran (or found
        # none, when the schema did not exist yet).
        engine.dialect.default_schema_name = schema

    event.listen(engine, "connect", set_search_path)
    _schemas[engine] = schema


def schema_of(engine: Engine) -> str | None:
    """The tenant schema ``engine`` works in; None for a whole database."""
    return _schemas.get(engine)


def create(engine: Engine) -> None:
    """Create the tenant schema of ``engine`` if it does not exist (a write's first step).

    :raises DatabaseUnavailable:
    """
    schema = schema_of(engine)
    if schema is None:
        return
    quoted = engine.dialect.identifier_preparer.quote_identifier(schema)
    with reachable(engine), engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted}")


def log_schema(schema: str | None) -> str:
    """The schema of the operation log of a tenant ``schema`` (``migrateway`` for a whole
    database): one per tenant, named after it, shortened with a digest past PostgreSQL's
    identifier length so that two long names never share one."""
    if schema is None:
        return "migrateway"
    name = f"migrateway_{schema}"
    if len(name.encode()) <= _MAX_IDENTIFIER:
        return name
    digest = hashlib.sha256(schema.encode()).hexdigest()[:12]
    return f"migrateway_{schema.encode()[:36].decode(errors='ignore')}_{digest}"
