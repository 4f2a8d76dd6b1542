"""A worker app (`celery -A tests.celery_standin worker`) whose job is a stand-in for
api/rollouts/job.py's run_target, so the Celery plumbing is tested on its own: a target runs
as one keyed POST /targets/<name>/upgrade, and each answer is appended, as a JSON line, to the
file CELERY_TEST_OUTCOMES names."""

from __future__ import annotations

import json
import os
import sys

from flask import current_app

from tests.tokens import bearer


def run_target(rollout_id: str, name: str) -> None:
    """Upgrade target ``name`` to head under the key rollout:<id>:<name>:<attempt>; an attempt
    whose operation was interrupted (its process died) is followed by the next one."""
    client = current_app.test_client()
    attempt = 1
    while True:
        key = f"rollout:{rollout_id}:{name}:{attempt}"
        answer = client.post(
            f"/targets/{name}/upgrade",
            json={"target": "head"},
            headers={**bearer(), "Idempotency-Key": key},
        )
        if answer.status_code != 409 or not answer.json["type"].endswith("operation-interrupted"):
            break
        attempt += 1
    outcome = {"name": name, "key": key, "status": answer.status_code, "body": answer.json}
    with open(os.environ["CELERY_TEST_OUTCOMES"], "a") as outcomes:
        outcomes.write(json.dumps(outcome) + "\n")


# The task imports api.rollouts.job when it runs; this module answers for it.
sys.modules["api.rollouts.job"] = sys.modules[__name__]

from api.rollouts.celery_worker import app  # noqa: E402 - after the stand-in is in place

__all__ = ["app", "run_target"]
