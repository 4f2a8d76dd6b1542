"""The user's Flask application (MIGRATEWAY_APP), loaded as `flask --app` loads it, and what
the service takes from it: its Migrate extension, migrations directory and database URLs."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask
from flask.cli import NoAppException, ScriptInfo

from api.config import EMBEDDED_MIGRATIONS, ConfigurationError


@dataclass(frozen=True)
class UserApp:
    """The application whose migrations the service runs, as `flask --app <it> db` runs them."""

    app: Flask
    state: object  # Flask-Migrate's _MigrateConfig: .migrate, .db, .directory, .configure_args
    directory: str
    database_url: str

    @property
    def project_root(self) -> str:
        """The directory the application's top-level package or module lies in: where its
        project keeps alembic.ini or pyproject.toml (api.service.project_files)."""
        top = sys.modules[self.app.import_name.split(".")[0]]
        path = os.path.dirname(os.path.abspath(top.__file__))
        return os.path.dirname(path) if hasattr(top, "__path__") else path

    def binds(self) -> dict[str, sa.Engine]:
        """The application's other databases (Flask-SQLAlchemy binds), by bind name."""
        with self.app.app_context():
            engines = _engines(self.state.db) or {}  # not Flask-SQLAlchemy: its default only
            return {name: e for name, e in engines.items() if name is not None}

    @property
    def version_table(self) -> tuple[str | None, str | None]:
        """The version table the application's ``Migrate(...)`` names, if any."""
        args = self.state.configure_args
        return args.get("version_table"), args.get("version_table_schema")


def load(import_path: str, directory: str | None, database_url: str | None) -> UserApp:
    """Load the application ``import_path`` names (``pkg.module:app``, ``pkg.module:create_app()``,
    ``pkg.module``: Flask's own rules, through Flask's own loader) and settle its migrations
    directory and default database, ``directory`` and ``database_url`` overriding its own.

    :raises ConfigurationError: it cannot be imported, has no Flask-Migrate extension, or its
        migrations directory or database cannot be found.
    """
    app = _import(import_path)
    state = app.extensions.get("migrate")
    if state is None:
        raise ConfigurationError(
            f"MIGRATEWAY_APP={import_path}: the application has no Flask-Migrate extension "
            "(Migrate(app, db) or migrate.init_app(app, db))."
        )
    directory = directory or _find_directory(app, state.directory, import_path)
    # `flask db` and env.py read the directory from the extension: both must see this one,
    # wherever the service was started (a relative one would follow the working directory).
    state.directory = state.migrate.directory = directory
    with app.app_context():
        if database_url is not None:
            _override_default_engine(app, state.db, database_url, import_path)
        url = _default_url(state.db, import_path)
    return UserApp(app=app, state=state, directory=directory, database_url=url)


def _import(import_path: str) -> Flask:
    try:
        return ScriptInfo(app_import_path=import_path, set_debug_flag=False).load_app()
    except NoAppException as exc:
        # Flask's message may carry a traceback: its last line is the error.
        lines = [line for line in str(exc).strip().splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else "it cannot be loaded"
        raise ConfigurationError(
            f"MIGRATEWAY_APP={import_path}: {reason} (is the application's code importable? "
            "See the README, 'Your application').",
        ) from None
    except Exception as exc:  # the application's own factory raised
        raise ConfigurationError(
            f"MIGRATEWAY_APP={import_path}: creating the application raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _find_directory(app: Flask, configured: str, import_path: str) -> str:
    """The application's migrations directory: ``flask db`` takes a relative one from the
    working directory, the project's, where the service's is its own; so look in the project
    first (beside the application's module or package), and never take the embedded one."""
    if os.path.isabs(configured):
        return configured
    candidates = [app.root_path, os.path.dirname(app.root_path), os.getcwd()]
    for base in candidates:
        path = os.path.abspath(os.path.join(base, configured))
        if os.path.isfile(os.path.join(path, "env.py")) and path != str(EMBEDDED_MIGRATIONS):
            return path
    raise ConfigurationError(
        f"MIGRATEWAY_APP={import_path}: its migrations directory '{configured}' is in none of "
        f"{', '.join(dict.fromkeys(candidates))}; set MIGRATIONS_DIR."
    )


def _engines(db) -> dict | None:
    """Flask-SQLAlchemy's engines of the current app, by bind key (None: the default one);
    None for a ``db`` of another kind."""
    engines = getattr(db, "engines", None)
    return engines if isinstance(engines, dict) else None


def _override_default_engine(app: Flask, db, url: str, import_path: str) -> None:
    engines = _engines(db)
    if engines is None:
        raise ConfigurationError(
            f"MIGRATEWAY_APP={import_path}: DATABASE_URL can replace the database of a "
            "Flask-SQLAlchemy application only; set the URL in the application's config."
        )
    old = engines.get(None)
    # The application's own engine options (pool, connect_args), on the URL the service is given.
    engines[None] = sa.create_engine(url, **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    if old is not None:
        old.dispose()


def _default_url(db, import_path: str) -> str:
    engine = (_engines(db) or {}).get(None)
    if engine is None and hasattr(db, "get_engine"):  # Alchemical and older Flask-SQLAlchemy
        engine = db.get_engine()
    if engine is None:
        raise ConfigurationError(
            f"MIGRATEWAY_APP={import_path}: the application has no default database "
            "(SQLALCHEMY_DATABASE_URI); set it, or DATABASE_URL."
        )
    # The engine's URL, not the config's string: Flask-SQLAlchemy puts a relative SQLite
    # path under the application's instance folder.
    return engine.url.render_as_string(hide_password=False)
