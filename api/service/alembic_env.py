"""Building the Alembic Config for a request, and running env.py without side effects on logging."""

from __future__ import annotations

import argparse
import io
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from alembic.config import Config
from flask_migrate import Migrate

from api.service.project_files import INI, project_files, script_location, settle_paths

ROOTS = "migrateway.roots"  # the key in Config.attributes of the project's directories


def build_config(
    migrate: Migrate,
    directory: str,
    database_url: str,
    app_root: str | None = None,
    alembic_config: str | None = None,
) -> Config:
    """The Alembic Config of ``directory`` pointed at the target database, with an output
    buffer for offline SQL.

    Its files are found as Alembic finds them (:func:`project_files`): Flask-Migrate's
    alembic.ini inside the directory is read through ``Migrate.get_config`` as always, a plain
    Alembic project's alembic.ini / pyproject.toml beside it or at ``app_root`` (or named by
    ``alembic_config``) as the ``alembic`` command reads them. Either way ``@migrate.configure``
    callbacks apply, and relative paths are read against the project, not the server's cwd.
    """
    files = project_files(directory, app_root, alembic_config)
    own_ini = files is None or (files.ini == os.path.join(directory, INI) and files.toml is None)
    if own_ini:
        config = migrate.get_config(directory)
        here = app_root or os.path.dirname(os.path.abspath(directory))  # where `flask db` runs
    else:
        config = files.config()
        config.cmd_opts = argparse.Namespace(x=[])  # as Migrate.get_config leaves it
        config = migrate.call_configure_callbacks(config)
        here = files.here
        if script_location(config, here) is None:  # an ini that leaves it to the caller
            config.set_main_option("script_location", directory)
    prepend = settle_paths(config, here)
    # Where the project's files are, to name one in an answer without the server's paths.
    config.attributes[ROOTS] = [config.get_main_option("script_location"), here, *prepend]
    # The parsed files are kept (file_config and toml_alembic_config are memoized) while env.py
    # sees no file: env.py files guard fileConfig() with "if config.config_file_name is not
    # None", and the service's logging is its own.
    config.toml_alembic_config  # noqa: B018 - parses the toml now, before the name goes
    if not own_ini or not os.path.exists(config.config_file_name):
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
