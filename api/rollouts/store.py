"""Where rollouts are kept: the operation log's store of DATABASE_URL."""

from __future__ import annotations

from flask import Flask

from api.service.oplog import Rollouts


def rollout_store(app: Flask) -> Rollouts:
    """The rollouts of this service, beside its own (unscoped) operation log."""
    return Rollouts(app.extensions["migrateway"].oplog)
