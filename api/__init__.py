"""Migrateway: a Flask application's Alembic migrations, run over HTTP."""

from __future__ import annotations

import os

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from api.auth import SWAGGER_AUTHORIZATIONS
from api.problems import ProblemApi
from api.representation import json_response

__version__ = "0.1.0"

db = SQLAlchemy()
# transaction_per_migration reaches context.configure() through Flask-Migrate's env.py:
# a failure mid-chain then leaves the database at the last revision that succeeded.
migrate = Migrate(compare_type=True, render_as_batch=True, transaction_per_migration=True)
api = ProblemApi(
    title="Migrateway",
    version=__version__,
    description="Run this application's Alembic migrations over HTTP.",
    doc="/docs",
    authorizations=SWAGGER_AUTHORIZATIONS,
    security="bearer",
)
api.representation("application/json")(json_response)


def create_app(config: dict | None = None) -> Flask:
    """Create the service; ``config`` overrides what the environment says."""
    from api import (
        auth,
        cli,
        fleet,
        graph_picture,
        limits,
        logs,
        models,
        openapi,
        problems,
        proxies,
        status_page,
        user_app,
    )
    from api.config import embedded_default, engine_options, load_config
    from api.resources import (
        commands,
        deliveries,
        graph,
        health,
        metrics,
        operations,
        plan,
        revisions,
        rollouts,
        status,
        targets,
        verify,
    )
    from api.service import MigrationService
    from api.service.binds import DEFAULT, bind_engines
    from api.service.database import VersionTable
    from api.service.ddl_locks import DdlLockPolicy
    from api.service.drivers import sync_url
    from api.service.tcp_user_timeout import bound_unanswered_waits
    from api.webhooks import worker as webhooks

    app = Flask(__name__, instance_relative_config=True)
    app.config.update(load_config(os.environ, app.instance_path))
    app.config.update(config or {})
    # What a worker process of the rollouts' pool makes its own app from (api/rollouts/pool.py).
    app.extensions["migrateway_config"] = dict(config or {})
    user = None
    if app.config.get("MIGRATEWAY_APP"):
        user = user_app.load(
            app.config["MIGRATEWAY_APP"], app.config["MIGRATIONS_DIR"], app.config["DATABASE_URL"]
        )
        app.config["MIGRATIONS_DIR"], app.config["DATABASE_URL"] = user.directory, user.database_url
    else:
        app.config.update(embedded_default(app.config, app.instance_path))
    # The service's own engine is sync; env.py still gets DATABASE_URL (async or not).
    app.config["SQLALCHEMY_DATABASE_URI"] = sync_url(app.config["DATABASE_URL"])
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS",
        engine_options(app.config["SQLALCHEMY_DATABASE_URI"], app.config["DB_CONNECT_TIMEOUT"]),
    )
    os.makedirs(app.instance_path, exist_ok=True)

    db.init_app(app)
    migrate.init_app(app, db, directory=app.config["MIGRATIONS_DIR"])
    version_table = VersionTable(
        *_version_table(app.config, user.version_table if user else (None, None))
    )
    # The configure() arguments Flask-Migrate's env.py passes on: VERSION_TABLE reaches env.py
    # through them, as a Migrate(version_table=...) of the application itself does.
    migrate_state = user.state if user else app.extensions["migrate"]
    migrate_state.configure_args.update(version_table.configure_args)
    with app.app_context():
        # Made by Flask-SQLAlchemy's init_app, once per app: the databases of the app whose
        # Migrate runs env.py (a multidb env.py takes its binds' engines from there too).
        engines = bind_engines(db)
        if user is not None:  # the application's binds; the default database is the service's
            engines = {DEFAULT: engines[DEFAULT], **user.binds()}
        for engine in engines.values():
            bound_unanswered_waits(engine, app.config["DB_CONNECT_TIMEOUT"])
        # What every target's service shares with DATABASE_URL's.
        common = dict(
            migrate=migrate_state.migrate,
            directory=app.config["MIGRATIONS_DIR"],
            version_table=version_table,
            alembic_config=app.config["ALEMBIC_CONFIG"],
            app_root=user.project_root if user else None,
            ddl_locks=DdlLockPolicy(app.config["DDL_LOCK_TIMEOUT"], app.config["DDL_LOCK_RETRIES"]),
            # Without MIGRATEWAY_APP, env.py sees the service's own models: they are the
            # directory's only when it is the embedded one (model drift compares them).
            models_known=user is not None or _is_embedded(app.config["MIGRATIONS_DIR"]),
        )
        app.extensions["migrateway"] = MigrationService(
            engine=db.engine,  # made by Flask-SQLAlchemy's init_app, once per app
            database_url=app.config["DATABASE_URL"],
            app_context=user.app.app_context if user else None,
            engines=engines,
            **common,
        )
    fleet.init_app(app, common, user.app.app_context if user else None)
    cli.init_app(app, user)
    webhooks.init_app(app, app.extensions["migrateway"])

    graph_picture.init_app(app)
    modules = (
        revisions,
        graph,
        status,
        commands,
        plan,
        operations,
        deliveries,
        health,
        metrics,
        verify,
    )
    targets.add_scoped_routes([module.ns for module in modules])
    for module in (*modules, targets, rollouts):
        if module.ns not in api.namespaces:
            api.add_namespace(module.ns)
    logs.init_app(app)
    limits.init_app(app)
    auth.init_app(app)
    status_page.init_app(app)  # before api.init_app: see there
    api.init_app(app)
    problems.init_app(app)
    openapi.init_app(app)
    proxies.init_app(app)
    del models  # imported so db.metadata knows the models (flask db migrate)
    return app


def _is_embedded(directory: str) -> bool:
    from api.config import EMBEDDED_MIGRATIONS

    return os.path.realpath(directory) == os.path.realpath(EMBEDDED_MIGRATIONS)


def _version_table(config: dict, from_app: tuple[str | None, str | None]) -> tuple:
    """VERSION_TABLE (and its schema) where set, else the application's Migrate(...) choice,
    else Alembic's alembic_version."""
    if config.get("VERSION_TABLE"):
        return config["VERSION_TABLE"], config.get("VERSION_TABLE_SCHEMA")
    name, schema = from_app
    return name or "alembic_version", config.get("VERSION_TABLE_SCHEMA") or schema
