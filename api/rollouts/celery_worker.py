"""The Celery workers' application: ``celery -A api.rollouts.celery_worker worker``, started
with the API's environment (CELERY_BROKER_URL, CELERY_QUEUE, the database and targets)."""

from __future__ import annotations

import os
import sys

from celery.concurrency import get_implementation
from celery.concurrency.prefork import TaskPool as ProcessPool
from celery.concurrency.solo import TaskPool as SoloPool
from celery.signals import worker_init

from api.config import PROJECT_ROOT, ConfigurationError, load_config
from api.rollouts.celery_app import make_celery

try:
    # The instance folder only locates the embedded database's token file, which a worker
    # does not read; it is where the service's own app keeps it.
    app = make_celery(load_config(os.environ, str(PROJECT_ROOT / "instance")))
except ConfigurationError as exc:
    sys.exit(f"migrateway worker: {exc}")


@worker_init.connect
def processes_only(sender, **_) -> None:
    """Refuse a pool of threads (or greenlets): Alembic's context is process-global, so two
    migrations in one process at once would run in each other's context."""
    pool = get_implementation(sender.pool_cls)
    if not (isinstance(pool, type) and issubclass(pool, (ProcessPool, SoloPool))):
        # SystemExit, not an exception: Celery logs a signal handler's exceptions and goes on.
        sys.exit(
            f"migrateway worker: the {pool.__module__.rsplit('.', 1)[-1]} pool runs tasks in "
            "one process side by side; run it with the default prefork pool (--pool prefork)"
        )
