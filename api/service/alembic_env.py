"""Building the Alembic Config for a request, and running env.py without side effects on logging."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from alembic.config import Config
from flask_migrate import Migrate


def build_config(migrate: Migrate, directory: str, database_url: str) -> Config:
    """The Alembic Config of ``directory``, as Flask-Migrate builds it (so ``@migrate.configure``
    callbacks apply), pointed at the target database and with an output buffer for offline SQL."""
    config = migrate.get_config(directory)
    if not os.path.exists(config.config_file_name):
        # A plain Alembic directory keeps alembic.ini elsewhere; env.py files guard
        # fileConfig() with "if config.config_file_name is not None".
        config.config_file_name = None
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    # The project's env.py skips logging.config.fileConfig() when it sees this.
    config.attributes["configure_logger"] = False
    config.output_buffer = io.StringIO()
    return config


@contextmanager
def preserved_logging() -> Iterator[None]:
    """Restore the process's logging set-up after running a user's env.py.

    Flask-Migrate's env.py template calls ``logging.config.fileConfig()``, which disables
    every existing logger and replaces the root handlers: in a long-running service that
    would silence its own logs after the first migration.
    """
    manager = logging.Logger.manager
    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers))
    saved = {
        name: (lg.disabled, lg.level, list(lg.handlers), lg.propagate)
        for name, lg in manager.loggerDict.items()
        if isinstance(lg, logging.Logger)
    }
    try:
        yield
    finally:
        root.setLevel(saved_root[0])
        root.handlers[:] = saved_root[1]
        for name, lg in list(manager.loggerDict.items()):
            if not isinstance(lg, logging.Logger):
                continue
            disabled, level, handlers, propagate = saved.get(
                name, (False, logging.NOTSET, [], True)
            )
            lg.disabled, lg.level, lg.propagate = disabled, level, propagate
            lg.handlers[:] = handlers
