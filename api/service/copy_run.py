"""Running a chain on a throw-away copy of a SQLite file: what a dry run and a plan do when a
revision needs a live connection (Alembic's batch mode reflects the table it copies), so it
cannot be rendered offline. Nothing runs on the database itself."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask import Flask, current_app, g, has_app_context
from sqlalchemy.pool import NullPool

from api.service.runner import StepTimer, run_env
from api.service.sqlite_copy import StatementLog, is_file, throwaway_copy

if TYPE_CHECKING:
    from api.service import MigrationService
    from api.service.graph import RevisionGraph


class EnvConnectsElsewhere(Exception):
    """env.py migrates on a connection of its own, not on the copy it was given."""


def run_on_copy(
    svc: MigrationService,
    graph: RevisionGraph,
    plan: Callable[[tuple[str, ...]], Iterable],
    timer: StepTimer,
    statements: StatementLog,
    on_connection: Callable[[sa.Connection], None] | None = None,
) -> None:
    """Run ``plan`` through env.py on a copy of the SQLite file, logging into ``statements``
    what it executes; ``on_connection`` is told the copy's connection before any step.

    :raises StepsFailed: a step raised, or env.py connects elsewhere (EnvConnectsElsewhere).
    """
    config = svc.config()
    with throwaway_copy(svc.engine.url.database) as path:
        url = f"sqlite:///{path}"

        def bind(connection: sa.Connection) -> None:
            # Called before any step: an env.py that connects to the real database by itself
            # (its app's engine) is stopped here, before it has run a statement.
            if not is_file(connection, path):
                raise EnvConnectsElsewhere()
            statements.listen(connection)
            if on_connection is not None:
                on_connection(connection)

        engine = sa.create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                # Both ways env.py files find their database: the URL (Alembic's templates)
                # and a connection handed in (the cookbook's, this project's env.py).
                config.set_main_option("sqlalchemy.url", url)
                config.attributes["connection"] = connection
                with svc.app_context(), app_on(engine):
                    run_env(
                        config,
                        graph.script,
                        plan,
                        version_table=svc.version_table,
                        timer=timer,
                        bind=bind,
                    )
        finally:
            engine.dispose()


@contextmanager
def app_on(engine: sa.Engine) -> Iterator[None]:
    """An app context in which Flask-Migrate's ``db.engine`` is ``engine``: the third way env.py
    finds its database (Flask-Migrate's template asks the app's Flask-SQLAlchemy ``db``).

    A copy of the current app, never the app itself, whose engines other threads read. It sets
    Flask-SQLAlchemy 3's per-app engines (a private attribute); without them, nothing changes
    and an env.py that asks ``db`` is refused by the check on its connection instead."""
    app = current_app._get_current_object() if has_app_context() else None
    migrate = app.extensions.get("migrate") if app is not None else None
    engines = getattr(getattr(migrate, "db", None), "_app_engines", None)
    if engines is None:
        yield
        return
    shadow = Flask(app.import_name, root_path=app.root_path)
    shadow.config.update(app.config)
    shadow.extensions = app.extensions
    engines[shadow] = {None: engine}  # the default bind only: any other stays unconnectable
    carried = dict(vars(g._get_current_object()))  # the request's id and actor, for log lines
    try:
        with shadow.app_context():
            vars(g._get_current_object()).update(carried)
            yield
    finally:
        engines.pop(shadow, None)
