"""Many databases, one migrations directory: named targets and the fleet matrix."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from flask import Flask

from api.config import ConfigurationError
from api.fleet import scope, settings
from api.fleet.discovery import Discoverer
from api.fleet.registry import Fleet
from api.fleet.settings import Discovery


def init_app(app: Flask, common: dict, app_context: Callable[[], AbstractContextManager] | None):
    """Read the targets and keep their (lazily made) services in ``app.extensions``.

    :raises ConfigurationError: the target list is malformed (the service does not start).
    """
    from api.fleet.services import builder

    try:
        targets = settings.load(
            app.config.get("MIGRATEWAY_TARGETS"), app.config.get("MIGRATEWAY_TARGETS_FILE")
        )
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    for target in targets:
        _check_driver(target)
    tenants = [t for t in targets if isinstance(t, Discovery) or t.schema is not None]
    if tenants and common["version_table"].schema is not None:
        # Each tenant's version table is in its own schema; one named schema would be shared.
        raise ConfigurationError(
            "VERSION_TABLE_SCHEMA cannot be set with schema targets ('schema', 'schemas'): "
            "each tenant keeps its version table in its own schema"
        )
    timeout = app.config["DB_CONNECT_TIMEOUT"]
    build = builder(common, app_context, timeout)
    discoverer = Discoverer(timeout) if tenants else None
    app.extensions["migrateway_targets"] = Fleet(targets, build, discoverer)
    scope.init_app(app)


def _check_driver(target: settings.Target | Discovery) -> None:
    """Refuse at start a target whose database driver is not installed: found at its first
    request instead, it would be a 500 on a service that looked healthy."""
    from sqlalchemy.engine import make_url

    from api.service.drivers import sync_url

    try:
        make_url(sync_url(target.url)).get_dialect().import_dbapi()
    except Exception as exc:  # NoSuchModuleError, ImportError: the message names the driver
        raise ConfigurationError(
            f"target {target.pattern if isinstance(target, Discovery) else target.name!r}: "
            "its database driver cannot be loaded "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
        ) from None
