"""`Prefer: respond-async`: answer 202 once the operation is recorded, and run it on."""

from __future__ import annotations

import threading

from flask import current_app, g, request

from api import exceptions
from api.schemas.operations import OperationSchema
from api.service import service
from api.service.oplog import RUNNING

_operation = OperationSchema()  # made once, as in status.py


def wanted() -> bool:
    """True when the caller asked not to wait (RFC 7240 Prefer: respond-async)."""
    prefer = request.headers.get("Prefer", "")
    return any(p.split("=")[0].strip().lower() == "respond-async" for p in prefer.split(","))


def start(run, ctx_with_hook) -> tuple[dict, int, dict]:
    """Run ``run(ctx)`` in a thread; return a 202 answer once the operation is recorded.

    Errors that come before the recording (a bad target, a held lock, a failed
    precondition) are raised here, so the caller still gets them as a plain problem.
    """
    app = current_app._get_current_object()
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
                run(ctx_with_hook(on_recorded))
            except BaseException as exc:  # recorded in the log when it came after the start
                outcome.setdefault("error", exc)
            finally:
                recorded.set()

    # Not a daemon: a worker shutting down gracefully lets the migration finish.
    threading.Thread(target=work, name="migrateway-async", daemon=False).start()
    recorded.wait()
    if "id" not in outcome:
        error = outcome.get("error")
        if isinstance(error, exceptions.Problem | exceptions.AlreadyDone):
            raise error
        raise RuntimeError("the operation stopped before it was recorded") from error
    op_id = outcome["id"]
    headers = {"Location": f"/operations/{op_id}", "Preference-Applied": "respond-async"}
    try:
        body = _operation.dump(service().operation(op_id))
    except exceptions.DatabaseUnavailable:
        # Recorded and under way, but the database went before the record could be read back:
        # a 503 would invite a second run, and Location is what the caller needs.
        body = {"id": op_id, "status": RUNNING}
    return body, 202, headers
