"""A fleet of PostgreSQL tenant schemas for case 8: one database, one schema per tenant at
mixed revisions, a few with no version table, and an operation log beside each migrated one."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import psycopg

# Out of every 1,000 tenants: most at head, some behind (a deploy half done), a few with no
# version table at all (a tenant created, never migrated).
BEHIND_PER_MILLE = 120
UNVERSIONED_PER_MILLE = 10
# Tenants per statement batch: one round trip each, and a transaction small enough that its
# locks (two or more per table made) stay far below max_locks_per_transaction × connections.
BATCH = 250
TEMPLATE = "tenant_00000"  # migrated for real; its log's tables are the model of the others


@dataclass
class SchemaFleet:
    """What was made, and what GET /targets must therefore answer."""

    names: list[str]
    behind: int  # reachable, not up to date (unversioned schemas count: they are at base)
    seconds: float  # to make the schemas, their version tables and logs


def plan(n: int, ids: list[str]) -> tuple[list[tuple[str, str | None]], int]:
    """Each tenant's name and revision (None: no version table), and how many are behind."""
    rng = random.Random(17)
    tenants, behind = [], 0
    for i in range(n):
        draw = rng.randrange(1000)
        if i and draw < UNVERSIONED_PER_MILLE:
            revision = None
        elif i and draw < UNVERSIONED_PER_MILLE + BEHIND_PER_MILLE:
            revision = ids[rng.randrange(len(ids) - 1)]
        else:
            revision = ids[-1]
        behind += revision != ids[-1]
        tenants.append((f"tenant_{i:05d}", revision))
    return tenants, behind


def make(url: str, tenants: list[tuple[str, str | None]], head: str) -> float:
    """Make every tenant but TEMPLATE (already migrated by a real POST) in batches of
    statements on one connection; seconds spent. A tenant at head gets a copy of TEMPLATE's
    operation log, as a fleet the service migrated has."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        log_tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename",
            (f"migrateway_{TEMPLATE}",),
        ).fetchall()
        others = [t for t in tenants if t[0] != TEMPLATE]
        for start in range(0, len(others), BATCH):
            statements = []
            for name, revision in others[start : start + BATCH]:
                statements += _tenant(name, revision, head, [t for (t,) in log_tables])
            conn.execute(";".join(statements))  # one implicit transaction per batch
    return time.perf_counter() - started


def _tenant(name: str, revision: str | None, head: str, log_tables: list[str]) -> list[str]:
    made = [f"CREATE SCHEMA {name}"]
    if revision is None:
        return made
    made += [
        f"CREATE TABLE {name}.alembic_version"
        " (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc"
        " PRIMARY KEY (version_num))",
        f"INSERT INTO {name}.alembic_version VALUES ('{revision}')",
    ]
    if revision != head:
        return made
    log, model = f"migrateway_{name}", f"migrateway_{TEMPLATE}"
    made.append(f"CREATE SCHEMA {log}")
    for table in log_tables:
        made += [
            f"CREATE TABLE {log}.{table} (LIKE {model}.{table} INCLUDING ALL)",
            f"INSERT INTO {log}.{table} SELECT * FROM {model}.{table}",
        ]
    return made


# The reference: what a user runs today, one Python process reading each tenant's version
# table on one connection (no Alembic, no graph, no log; the floor of any such listing).
READ_LOOP = """
import sys, time, psycopg
url, head = sys.argv[1], sys.argv[2]
behind = 0
with psycopg.connect(url, autocommit=True) as conn:
    names = [r[0] for r in conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\\\_%' ORDER BY nspname")]
    for name in names:
        try:
            rows = [r[0] for r in conn.execute(f'SELECT version_num FROM "{name}".alembic_version')]
        except psycopg.errors.UndefinedTable:
            rows = []
        behind += rows != [head]
print(behind)
"""
