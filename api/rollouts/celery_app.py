"""Rollouts on Celery: the Celery app made from the service's config, the task that runs one
target of a rollout in a worker, and the executor that queues it.

Celery delivers a task at least once: a task whose worker died before it ended is given to
another worker. That is what a rollout wants (no target is lost with a worker), and it is safe
because the task only calls :func:`api.rollouts.job.run_target`, which runs a target as one
keyed POST /targets/<name>/upgrade would: the target's lock lets one run at a time, and a
target that finished is never run again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from celery import Celery

from api.config import ConfigurationError
from api.rollouts import celery_operation
from api.rollouts.celery_settings import is_redis

if TYPE_CHECKING:
    from flask import Flask

# The task's name on the wire: the API and the workers agree on it, not on a module path.
TASK = "migrateway.rollout_target"
# A task whose process died this many times running it (a revision that runs out of memory,
# or crashes its driver) is not run again: its target is written interrupted, as the pool of
# processes inside the service writes it at the first death, and the rollout halts on it.
LOST_RUNS = 3

# This worker process's service, made at its first task (never in the parent the pool forks
# its processes from: each process has its own engines and connections).
_service: Flask | None = None


def make_celery(config: Mapping) -> Celery:
    """The Celery app for the broker and queue ``config`` names (CELERY_BROKER_URL, ...).

    :raises ConfigurationError: CELERY_BROKER_URL is not set.
    """
    url = config.get("CELERY_BROKER_URL")
    if not url:
        raise ConfigurationError(
            "CELERY_BROKER_URL is not set: Celery workers run rollouts only with a broker "
            "(redis://host:6379/0 or amqp://user:password@host:5672//)"
        )
    celery = Celery("migrateway", broker=url, set_as_current=False)
    celery.conf.update(
        task_default_queue=config["CELERY_QUEUE"],
        # At least once: a message is acknowledged when its task has ended, not when a worker
        # took it. A task whose process died (SIGKILL, out of memory) is sent again at once as
        # a retry, which counts the deaths (the task gives up at LOST_RUNS; a message merely
        # put back would loop forever on a revision that kills its process); it is put back as
        # it was only if the retry cannot be sent. One message per process at a time: a
        # prefetched one would wait behind a long migration.
        task_acks_late=True,
        task_retry_on_worker_lost=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # A task that raised is acknowledged, not redelivered: run_target wrote its outcome
        # (a failed migration is an answer, and POST /rollouts/<id>/resume retries it).
        task_acks_on_failure=True,
        # No time limit: a limit would kill a migration in the middle of a revision.
        task_time_limit=None,
        # A worker that loses the broker lets its running migrations finish; their messages
        # may be redelivered meanwhile, which the target's lock and key make harmless.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # Outcomes are written to the rollout store by the task itself; no result backend.
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
    )
    if is_redis(url):
        # Redis has no acknowledgements of its own: a message taken and not acknowledged
        # within this many seconds is handed out again (see CELERY_VISIBILITY_TIMEOUT).
        celery.conf.broker_transport_options = {
            "visibility_timeout": config["CELERY_VISIBILITY_TIMEOUT"]
        }
    # Retried only when its process died: no limit here (the task counts), no delay.
    celery.task(name=TASK, bind=True, max_retries=None, default_retry_delay=0)(rollout_target)
    celery.task(name=celery_operation.TASK, bind=True, max_retries=None)(
        celery_operation.run_operation
    )
    return celery


def rollout_target(task, rollout_id: str, name: str) -> None:
    """The task ``migrateway.rollout_target``: run one target of a rollout in this process."""
    app = service()
    with app.app_context():
        if task.request.retries >= LOST_RUNS:
            return _lost(app, rollout_id, name, task.request.retries)
        # Imported here, in the worker: the job needs the whole service, the API does not.
        from api.rollouts import job

        job.run_target(rollout_id, name)


def _lost(app: Flask, rollout_id: str, name: str, deaths: int) -> None:
    """Write the target interrupted (if nothing wrote how it ended): its process died
    ``deaths`` times running it. Its operation log says whether any of it ran."""
    from api.rollouts.store import rollout_store

    rollout_store(app).interrupt(
        rollout_id, name, f"the process running it died {deaths} times (out of memory? killed?)"
    )


def service() -> Flask:
    """This process's service, made from the environment (the worker is started with the
    API's) at its first task and kept for the next ones."""
    global _service
    if _service is None:
        from api import create_app

        _service = create_app()
    return _service


class CeleryExecutor:
    """An :class:`api.rollouts.executors.Executor`: each target is a task on CELERY_QUEUE,
    run by Celery workers (api/rollouts/celery_worker.py), which write its outcome."""

    def __init__(self, config: Mapping):
        """:raises ConfigurationError: CELERY_BROKER_URL is not set."""
        self.celery = make_celery(config)
        self.queue = config["CELERY_QUEUE"]

    def submit(self, rollout_id: str, name: str) -> None:
        """Queue one target of a rollout; return once the broker has the message.

        :raises kombu.exceptions.OperationalError: the broker cannot be reached (after a few
            retries within about a second).
        """
        self.celery.tasks[TASK].apply_async((rollout_id, name), queue=self.queue)

    def queue_operation(self, target: str | None, op_id: str, write: dict, ctx: dict) -> None:
        """Queue one operation (Prefer: respond-async); return once the broker has it.

        :raises kombu.exceptions.OperationalError: the broker cannot be reached.
        """
        self.celery.tasks[celery_operation.TASK].apply_async(
            (target, op_id, write, ctx), queue=self.queue
        )

    def shutdown(self) -> None:
        """Release the broker connections; queued and running tasks are the workers'."""
        self.celery.close()
