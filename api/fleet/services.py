"""The MigrationService of one target: the service's own, pointed at the target's engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import sqlalchemy as sa

from api.config import engine_options
from api.fleet.settings import Target
from api.service import MigrationService
from api.service.binds import DEFAULT
from api.service.copy_run import app_on
from api.service.drivers import sync_url
from api.service.graph_cache import GraphCache
from api.service.tcp_user_timeout import bound_unanswered_waits
from api.service.tenant_schema import confine


def builder(
    common: dict,
    app_context: Callable[[], AbstractContextManager] | None,
    connect_timeout: int,
) -> Callable[[Target], MigrationService]:
    """What makes a target's service: ``common`` holds the MigrationService arguments every
    target shares with DATABASE_URL's (migrate, directory, version table, ...)."""
    graphs = GraphCache()  # one directory for every target: parsed once, not per target

    def build(target: Target) -> MigrationService:
        url = sync_url(target.url)
        engine = sa.create_engine(url, **engine_options(url, connect_timeout))
        bound_unanswered_waits(engine, connect_timeout)
        if target.schema is not None:
            confine(engine, target.schema)  # before its first connection
        return MigrationService(
            engine=engine,
            database_url=target.url,
            engines={DEFAULT: engine},
            app_context=_on(engine, app_context or nullcontext),
            graphs=graphs,
            **common,
        )

    return build


def _on(engine: sa.Engine, outer: Callable[[], AbstractContextManager]):
    """An app context in which env.py's ``db.engine`` is the target's: Flask-Migrate's env.py
    asks the app for its engine, and that must be this target's, never DATABASE_URL's."""

    @contextmanager
    def context() -> Iterator[None]:
        with outer(), app_on(engine):
            yield

    return context
