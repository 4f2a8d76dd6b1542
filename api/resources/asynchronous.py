"""`Prefer: respond-async`: answer 202 once the operation is recorded, and run it on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from functools import partial

from flask import current_app, g

from api import exceptions
from api.fleet.scope import current_target, url_prefix
from api.rollouts.control import queue_operation
from api.schemas.operations import OperationSchema
from api.service import service
from api.service.context import CallContext
from api.service.idempotency import Accepted, Outcome
from api.service.oplog import RUNNING

_operation = OperationSchema()  # made once, as in status.py


def wanted(prefer: str | None) -> bool:
    """True when the caller asked not to wait (RFC 7240 Prefer: respond-async)."""
    return any(
        p.split("=")[0].strip().lower() == "respond-async" for p in (prefer or "").split(",")
    )


def start(call: Callable[..., Outcome], ctx: CallContext) -> Outcome:
    """Run ``call(ctx=...)`` on: queued for Celery's workers when CELERY_BROKER_URL is set
    (it outlives this process; what would refuse it is found by the worker, and its record
    says so), else in a thread of this process, returning once the operation is recorded.

    In a thread, what comes before the recording (a replayed key's answer, a bad target, a
    held lock, a failed precondition) is returned or raised here, so the caller still gets
    it as it is.
    """
    app = current_app._get_current_object()
    if app.config.get("CELERY_BROKER_URL"):
        return call(ctx=replace(ctx, queue=partial(queue_operation, app, current_target())))
    # The thread's log lines carry the request that started it (see api.logs).
    carried = {k: g.get(k) for k in ("request_id", "actor") if g.get(k)}
    recorded = threading.Event()
    outcome: dict = {}

    def on_recorded(op_id: str) -> None:
        outcome["id"] = op_id
        recorded.set()

    def work() -> None:
        with app.app_context():
            for name, value in carried.items():
                setattr(g, name, value)
            try:
                outcome["value"] = call(ctx=replace(ctx, on_recorded=on_recorded))
            except BaseException as exc:  # recorded in the log when it came after the start
                outcome.setdefault("error", exc)
            finally:
                recorded.set()

    # Not a daemon: a worker shutting down gracefully lets the migration finish.
    threading.Thread(target=work, name="migrateway-async", daemon=False).start()
    recorded.wait()
    if "id" in outcome:
        return Accepted(outcome["id"])
    error = outcome.get("error")
    if isinstance(error, exceptions.Problem):
        raise error
    if error is not None:
        raise RuntimeError("the operation stopped before it was recorded") from error
    return outcome["value"]


def accepted(op_id: str) -> tuple[dict, dict]:
    """The body and headers of a 202 for operation ``op_id``."""
    headers = {
        "Location": f"{url_prefix()}/operations/{op_id}",
        "Preference-Applied": "respond-async",
    }
    try:
        body = _operation.dump(service().operation(op_id))
    except exceptions.DatabaseUnavailable:
        # Recorded and under way, but the database went before the record could be read back:
        # a 503 would invite a second run, and Location is what the caller needs.
        body = {"id": op_id, "status": RUNNING}
    return body, headers
