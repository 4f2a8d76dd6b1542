"""Discovered targets: the schemas of a PostgreSQL database that match a LIKE pattern."""

from __future__ import annotations

import logging
import threading

import sqlalchemy as sa

from api.config import engine_options
from api.fleet.settings import NAME, Discovery, Target
from api.service.database import reachable
from api.service.drivers import sync_url

log = logging.getLogger(__name__)

# The catalogue's own schemas and the service's operation logs (migrateway, migrateway_<tenant>,
# api/service/tenant_schema.py) are never tenants, whatever the pattern.
_SCHEMAS = sa.text(
    "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname LIKE :pattern "
    "AND nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' "
    "AND nspname <> 'migrateway' AND nspname NOT LIKE 'migrateway\\_%' ORDER BY nspname"
)


class Discoverer:
    """Lists the schemas of each discovery entry, on one small engine per database URL."""

    def __init__(self, connect_timeout: int):
        self._connect_timeout = connect_timeout
        self._engines: dict[str, sa.Engine] = {}
        self._lock = threading.Lock()

    def targets(self, entry: Discovery) -> list[Target]:
        """The targets ``entry`` stands for now, sorted by name; a schema whose name is not a
        target name is skipped (and said in the log).

        :raises DatabaseUnavailable: the entry's database cannot be reached.
        """
        engine = self.engine(entry.url)
        with reachable(engine), engine.connect() as conn:
            names = conn.execute(_SCHEMAS, {"pattern": entry.pattern}).scalars().all()
        found = []
        for name in names:
            if NAME.match(name):
                found.append(Target(name, entry.url, schema=name))
            else:
                log.warning(
                    "schema %r matches %r but is not a target name (%s): skipped",
                    name[:100],
                    entry.pattern,
                    NAME.pattern,
                )
        return found

    def engine(self, url: str) -> sa.Engine:
        """The small engine of the database at ``url``: its schema listings and GET /targets'
        batched reads of its tenant schemas (api/fleet/schema_reads.py)."""
        with self._lock:
            engine = self._engines.get(url)
            if engine is None:
                sync = sync_url(url)
                options = engine_options(sync, self._connect_timeout)
                # One query per listing and one connection per GET /targets: a pooled
                # connection, and a few more when listings overlap.
                options.update(pool_size=1, max_overflow=3)
                engine = self._engines[url] = sa.create_engine(sync, **options)
            return engine

    def dispose(self) -> None:
        """Close the discovery engines' connections."""
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
