"""Single operations on Celery (Prefer: respond-async with CELERY_BROKER_URL set): the task
that runs one in a worker, so that it outlives the API process that accepted it.

Delivered at least once, like a rollout's target: the task takes the operation's queued
record under the target's lock before anything runs, so a second delivery finds it taken and
does nothing; the record of one whose worker died reads interrupted, as any operation's does.
"""

from __future__ import annotations

import logging

from api import exceptions

log = logging.getLogger(__name__)

# The task's name on the wire: the API and the workers agree on it, not on a module path.
TASK = "migrateway.operation"
# A database that cannot be reached is tried again after this many seconds, doubled each
# time up to the last: the operation stays queued (nothing ran) until its database answers.
BACKOFF = (1, 2, 4, 8, 15, 30)


def run_operation(task, target: str | None, op_id: str, write: dict, ctx: dict) -> None:
    """The task ``migrateway.operation``: run queued operation ``op_id`` of ``target``."""
    from api.rollouts.celery_app import service
    from api.service import queued

    app = service()
    fleet = app.extensions["migrateway_targets"]
    with app.app_context():
        try:
            svc = app.extensions["migrateway"] if target is None else fleet.service(target)
            queued.run(svc, op_id, write, ctx, _document)
        except exceptions.DatabaseUnavailable as exc:
            delay = BACKOFF[min(task.request.retries, len(BACKOFF) - 1)]
            raise task.retry(exc=exc, countdown=delay) from None
        except exceptions.UnknownTarget:  # the targets changed since it was queued
            log.error("operation %s: target %s is no longer configured", op_id, target)
        finally:
            if target is not None:  # a worker serving many targets keeps no pool of each
                fleet.release(target)


def _document(problem: exceptions.Problem) -> dict:
    """The problem as the API would have answered it, had the request waited."""
    from api.problems import problem_body
    from api.resources.commands import json_findings

    extra = json_findings(problem).extra
    return problem_body(problem.status, problem.slug, problem.title, problem.detail, **extra)
