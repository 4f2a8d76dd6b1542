"""What a webhook says: the event, the operation as GET /operations/<id> shows it, and a line
of text a chat tool can show as it is."""

from __future__ import annotations

import json

from api.schemas.operations import OperationSchema
from api.service.oplog import FAILED, Operation

_operation = OperationSchema()  # one shape: the API's
# A chat line stays a line: a long error is cut (the operation carries it whole).
MAX_ERROR_IN_TEXT = 200


def event_of(op: Operation) -> str:
    """``operation.succeeded``, ``.failed``, ``.interrupted`` or ``.refused`` (on Celery)."""
    return f"operation.{op.status}"


def body(op: Operation, delivery_id: str) -> str:
    """The JSON body sent for ``op``'s end; ``delivery_id`` names this delivery, the same in
    every attempt (a receiver that got it twice can tell)."""
    return json.dumps(
        {
            "event": event_of(op),
            "delivery_id": delivery_id,
            "text": text(op),
            "operation": _operation.dump(op),
        },
        separators=(",", ":"),
    )


def text(op: Operation) -> str:
    """e.g. ``downgrade by oncall: 96a0b32 -> a9343e0 succeeded in 0.07 s``."""
    to = "?" if op.to is None else _revisions(op.to)
    line = f"{op.kind} by {op.actor}: {_revisions(op.from_)} -> {to} {op.status}"
    if op.finished_at is not None:
        line += f" in {(op.finished_at - op.started_at).total_seconds():.2f} s"
    if op.status == FAILED and op.failed_revision:
        line += f" at {op.failed_revision}"
    if op.error and op.status != "succeeded":
        error = " ".join(op.error.split())  # one line
        if len(error) > MAX_ERROR_IN_TEXT:
            error = error[: MAX_ERROR_IN_TEXT - 1] + "…"
        line += f": {error}"
    return line


def _revisions(revisions: tuple[str, ...]) -> str:
    return "+".join(revisions) if revisions else "base"
