"""Alembic environment of the embedded default database (Flask-Migrate's, made server-friendly).

Changes from Flask-Migrate's template, for running inside a long-lived service:
logging.config.fileConfig() is skipped when the caller says so (it would disable the
service's loggers), a connection given in config.attributes is used as it is (Alembic
cookbook, "Sharing a Connection"), and offline SQL names the configured version table.
"""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config

if config.attributes.get("configure_logger", True) and config.config_file_name:
    fileConfig(config.config_file_name)
logger = logging.getLogger("alembic.env")


def get_engine():
    return current_app.extensions["migrate"].db.engine


def get_engine_url():
    return get_engine().url.render_as_string(hide_password=False).replace("%", "%%")


config.set_main_option("sqlalchemy.url", get_engine_url())
target_db = current_app.extensions["migrate"].db


def get_metadata():
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


def run_migrations_offline():
    """Emit the SQL to the output buffer instead of running it."""
    # The version table's name and schema, if configured, belong in the SQL too.
    conf_args = current_app.extensions["migrate"].configure_args
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=get_metadata(),
        literal_binds=True,
        **{k: v for k, v in conf_args.items() if k.startswith("version_table")},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run the migrations on a connection: the shared one if given, else the app's engine."""

    # Do not write an empty revision when autogenerate finds no change.
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)

    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)
        with context.begin_transaction():
            context.run_migrations()
        return

    with get_engine().connect() as connection:
        context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
