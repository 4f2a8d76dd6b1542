"""Many databases, one migrations directory: named targets and the fleet matrix."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from flask import Flask

from api.config import ConfigurationError
from api.fleet import scope, settings
from api.fleet.registry import Fleet


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
    build = builder(common, app_context, app.config["DB_CONNECT_TIMEOUT"])
    app.extensions["migrateway_targets"] = Fleet(targets, build)
    scope.init_app(app)


def _check_driver(target: settings.Target) -> None:
    """Refuse at start a target whose database driver is not installed: found at its first
    request instead, it would be a 500 on a service that looked healthy."""
    from sqlalchemy.engine import make_url

    from api.service.drivers import sync_url

    try:
        make_url(sync_url(target.url)).get_dialect().import_dbapi()
    except Exception as exc:  # NoSuchModuleError, ImportError: the message names the driver
        raise ConfigurationError(
            f"target {target.name!r}: its database driver cannot be loaded "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
        ) from None
