"""Service configuration, read from the environment in one place."""

from __future__ import annotations

import ipaddress
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from api.rollouts import celery_settings
from api.webhooks.settings import parse as parse_webhooks

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The embedded default database's migrations (the service's own User model).
EMBEDDED_MIGRATIONS = PROJECT_ROOT / "migrations"
# The bounds of DDL_LOCK_TIMEOUT (seconds) and DDL_LOCK_RETRIES, and of a request's own.
MAX_DDL_LOCK_TIMEOUT = 600.0
MAX_DDL_LOCK_RETRIES = 10
MAX_GRAPHVIZ_TIMEOUT = 300.0
MAX_TARGET_READ_TIMEOUT = 120.0
# The bounds of WEBHOOK_RETRY_SECONDS (a day) and WEBHOOK_TIMEOUT (seconds).
MAX_WEBHOOK_RETRY = 86400.0
MAX_WEBHOOK_TIMEOUT = 60.0
# The bound of CELERY_VISIBILITY_TIMEOUT (a week) and its default (6 hours).
MAX_CELERY_VISIBILITY_TIMEOUT = 7 * 86400.0
CELERY_VISIBILITY_TIMEOUT = 6 * 3600.0


class ConfigurationError(ValueError):
    """A setting the service cannot start with; the message names the setting and its fault,
    in one line: it is all an operator sees (wsgi.py, api.gunicorn_conf.on_starting)."""


def load_config(environ: Mapping[str, str], instance_path: str) -> dict:
    """Return the Flask config for this process, from environment variables with safe defaults.

    Every setting the service reads lives here; tests pass overrides to ``create_app``.
    """
    # The user's Flask application, named as `flask --app` names it (api/user_app.py). With
    # it, its Migrate extension, directory and database URLs are the defaults below.
    user_app = environ.get("MIGRATEWAY_APP") or None
    embedded = "DATABASE_URL" not in environ and user_app is None
    return {
        "MIGRATEWAY_APP": user_app,
        # The target database, the one whose schema is migrated, and its migrations. None:
        # the application's, or without one the embedded default (see embedded_default).
        "DATABASE_URL": environ.get("DATABASE_URL") or None,
        "MIGRATIONS_DIR": environ.get("MIGRATIONS_DIR") or None,
        # The other databases of a multi-database directory without MIGRATEWAY_APP (an
        # application's own binds come from its config): Flask-SQLAlchemy's SQLALCHEMY_BINDS.
        **_binds(environ.get("DATABASE_BINDS")),
        # The project's alembic.ini or pyproject.toml, as for the alembic command; without it
        # the file is looked for in, then beside, the migrations directory.
        "ALEMBIC_CONFIG": environ.get("ALEMBIC_CONFIG") or None,
        # Where env.py's context.configure() keeps the applied revisions (version_table and
        # version_table_schema). Reads do not run env.py; every write checks that it agrees.
        # None: what the application's Migrate() says, else Alembic's default.
        "VERSION_TABLE": environ.get("VERSION_TABLE") or None,
        "VERSION_TABLE_SCHEMA": environ.get("VERSION_TABLE_SCHEMA") or None,
        # How long a revision's statement waits for a table lock before it gives up (seconds;
        # unset: as long as the database lets it), and how many times a revision that gave up
        # is tried again (api/service/ddl_timeouts.py). A write's body may say otherwise.
        "DDL_LOCK_TIMEOUT": _seconds(environ, "DDL_LOCK_TIMEOUT", MAX_DDL_LOCK_TIMEOUT),
        "DDL_LOCK_RETRIES": _count(environ, "DDL_LOCK_RETRIES", 3, MAX_DDL_LOCK_RETRIES),
        # A request that cannot reach the database, or whose database stopped answering
        # (api/service/tcp_user_timeout.py), answers 503 within a small multiple of this many
        # seconds.
        "DB_CONNECT_TIMEOUT": int(environ.get("DB_CONNECT_TIMEOUT", "5")),
        # GET /revisions/graph?format=svg runs Graphviz's dot (a name looked up on PATH, or a
        # path), stopped after GRAPHVIZ_TIMEOUT seconds; DOT and Mermaid need neither.
        "GRAPHVIZ_DOT": environ.get("GRAPHVIZ_DOT") or "dot",
        "GRAPHVIZ_TIMEOUT": _seconds(environ, "GRAPHVIZ_TIMEOUT", MAX_GRAPHVIZ_TIMEOUT) or 10.0,
        # Request bodies are a few small fields; anything larger is refused with 413.
        "MAX_CONTENT_LENGTH": int(environ.get("MAX_CONTENT_LENGTH", str(16 * 1024))),
        # The reverse proxies whose X-Forwarded-For names the client the operation log records
        # (api/proxies.py): addresses or networks. None trusted: the socket's peer is recorded.
        "TRUSTED_PROXIES": trusted_proxies(environ.get("TRUSTED_PROXIES")),
        # The JSON log lines of the "api" logger (api.logs): INFO has one per request.
        "LOG_LEVEL": environ.get("LOG_LEVEL", "INFO"),
        # Bearer tokens (api.auth): a JSON list of {"name", "sha256", "scopes"}, inline and/or
        # in a file. Only the embedded default database reads instance/tokens.json unasked and
        # gets a local token from the run command; a DATABASE_URL someone gave never does.
        "MIGRATEWAY_TOKENS": environ.get("MIGRATEWAY_TOKENS"),
        "MIGRATEWAY_TOKENS_FILE": environ.get("MIGRATEWAY_TOKENS_FILE")
        or (os.path.join(instance_path, "tokens.json") if embedded else None),
        "CREATE_LOCAL_TOKEN": embedded,
        # Named databases the same migrations directory runs on (api/fleet/): a JSON list of
        # {"name", "url"}, inline and/or in a file; each is served under /targets/<name>/.
        # GET /targets gives up on a target that has not answered in TARGET_READ_TIMEOUT s.
        "MIGRATEWAY_TARGETS": environ.get("MIGRATEWAY_TARGETS") or None,
        "MIGRATEWAY_TARGETS_FILE": environ.get("MIGRATEWAY_TARGETS_FILE") or None,
        "TARGET_READ_TIMEOUT": _seconds(environ, "TARGET_READ_TIMEOUT", MAX_TARGET_READ_TIMEOUT)
        or 10.0,
        # How many worker processes inside the service run a rollout's targets when Celery is
        # not used (api/rollouts/pool.py); unset: one per CPU.
        "ROLLOUT_WORKERS": _count(environ, "ROLLOUT_WORKERS", 0, 64) or None,
        # Rollouts on Celery (api/rollouts/celery_app.py): with a Redis or RabbitMQ URL, each
        # target of a rollout is a task on CELERY_QUEUE, run by Celery workers started with this
        # same environment; unset, a pool of processes inside the service runs them.
        "CELERY_BROKER_URL": _celery(celery_settings.broker_url, environ, "CELERY_BROKER_URL"),
        "CELERY_QUEUE": _celery(celery_settings.queue, environ, "CELERY_QUEUE"),
        # Redis only: a task whose worker vanished whole (machine lost) goes to another worker
        # after this many seconds. Longer than any migration: a task still running past it is
        # handed out again (the lock and its key make that run nothing twice, but it waits).
        "CELERY_VISIBILITY_TIMEOUT": _seconds(
            environ, "CELERY_VISIBILITY_TIMEOUT", MAX_CELERY_VISIBILITY_TIMEOUT
        )
        or CELERY_VISIBILITY_TIMEOUT,
        # Where and what to POST when an operation ends (api/webhooks/): a JSON list of
        # {"url", "secret", "events"}; each delivery is retried for WEBHOOK_RETRY_SECONDS in
        # all, each attempt given WEBHOOK_TIMEOUT seconds to answer.
        "MIGRATEWAY_WEBHOOKS": _webhooks(environ.get("MIGRATEWAY_WEBHOOKS")),
        "WEBHOOK_RETRY_SECONDS": _seconds(environ, "WEBHOOK_RETRY_SECONDS", MAX_WEBHOOK_RETRY)
        or 300.0,
        "WEBHOOK_TIMEOUT": _seconds(environ, "WEBHOOK_TIMEOUT", MAX_WEBHOOK_TIMEOUT) or 10.0,
        # Flask-RESTX: no "did you mean" prose in 404s, no "message" key in errors
        # (the problem+json handler owns the error body), and marshmallow validates bodies.
        "RESTX_ERROR_404_HELP": False,
        "ERROR_INCLUDE_MESSAGE": False,
        "RESTX_VALIDATE": False,
        "RESTX_MASK_SWAGGER": False,
        "SWAGGER_UI_DOC_EXPANSION": "list",
    }


def _seconds(environ: Mapping[str, str], name: str, maximum: float) -> float | None:
    """Setting ``name``: seconds in (0, maximum], or None when unset."""
    raw = environ.get(name)
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 < value <= maximum:  # NaN fails too
        raise ConfigurationError(f"{name} must be seconds in (0, {maximum:g}], not {raw!r}")
    return value


def _count(environ: Mapping[str, str], name: str, default: int, maximum: int) -> int:
    """Setting ``name``: an integer in [0, maximum], ``default`` when unset."""
    raw = environ.get(name)
    if not raw:
        return default
    if not (raw.isascii() and raw.strip().isdigit()) or int(raw) > maximum:
        raise ConfigurationError(f"{name} must be an integer from 0 to {maximum}, not {raw!r}")
    return int(raw)


def trusted_proxies(raw: str | None) -> tuple:
    """TRUSTED_PROXIES: comma-separated IP addresses or networks (``10.0.0.0/8``)."""
    networks = []
    for part in (raw or "").split(","):
        if not part.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise ConfigurationError(
                f"TRUSTED_PROXIES must be IP addresses or networks separated by commas "
                f"(127.0.0.1,10.0.0.0/8), not {part.strip()!r}"
            ) from None
    return tuple(networks)


def _binds(raw: str | None) -> dict:
    if not raw:
        return {}
    try:
        binds = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"DATABASE_BINDS is not JSON: {exc}") from None
    if not isinstance(binds, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in binds.items()
    ):
        raise ConfigurationError(
            'DATABASE_BINDS must be a JSON object of bind name to URL: {"users": "postgresql://..."}'
        )
    return {"SQLALCHEMY_BINDS": binds}


def _celery(parse, environ: Mapping[str, str], name: str):
    try:
        return parse(environ.get(name))
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


def _webhooks(raw: str | None) -> tuple:
    try:
        return parse_webhooks(raw)
    except ValueError as exc:
        raise ConfigurationError(f"MIGRATEWAY_WEBHOOKS{exc}") from None


def embedded_default(config: dict, instance_path: str) -> dict:
    """DATABASE_URL and MIGRATIONS_DIR where neither they nor MIGRATEWAY_APP say: the embedded
    default database, a SQLite file in the instance folder, with the service's own migrations."""
    return {
        "DATABASE_URL": config["DATABASE_URL"]
        or "sqlite:///" + os.path.join(instance_path, "migrateway.sqlite"),
        "MIGRATIONS_DIR": config["MIGRATIONS_DIR"] or str(EMBEDDED_MIGRATIONS),
    }


# The connect() argument that bounds a connection attempt, by driver: only drivers that take
# it get it (asyncpg and pg8000 call it "timeout"; SQLite has none).
_CONNECT_TIMEOUT_ARGS = {
    "psycopg": "connect_timeout",
    "psycopg2": "connect_timeout",
    "pymysql": "connect_timeout",
    "mysqldb": "connect_timeout",
    "mariadbconnector": "connect_timeout",
    "pg8000": "timeout",
}


def engine_options(database_url: str, connect_timeout: int) -> dict:
    """SQLAlchemy engine options so an unreachable database fails fast and a dead
    pooled connection is replaced instead of failing the next request."""
    options: dict = {"pool_pre_ping": True}
    try:
        driver = make_url(database_url).get_driver_name()
    except ArgumentError:  # creating the engine reports it
        return options
    if driver in _CONNECT_TIMEOUT_ARGS:
        options["connect_args"] = {_CONNECT_TIMEOUT_ARGS[driver]: connect_timeout}
    return options
