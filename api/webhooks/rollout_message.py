"""What a webhook says when a rollout halts or ends: the rollout as GET /rollouts lists it,
and a line of text a chat tool can show as it is."""

from __future__ import annotations

import json
import uuid

from api.schemas.rollouts import RolloutSummarySchema

_rollout = RolloutSummarySchema()  # one shape: the API's


def end_id(rollout) -> str:
    """What stands for one end of a rollout in a delivery's ``operation_id``: a rollout that
    halts, is resumed and ends has two ends, each sent once (a UUID, never an operation's)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{rollout.id}/{rollout.finished_at.isoformat()}"))


def event_of(rollout) -> str:
    """``rollout.succeeded``, ``rollout.failed``, ``rollout.halted`` or ``rollout.cancelled``."""
    return f"rollout.{rollout.status}"


def body(view, delivery_id: str) -> str:
    """The JSON body sent for a rollout's end (``view``: api.rollouts.control.RolloutView)."""
    return json.dumps(
        {
            "event": event_of(view),
            "delivery_id": delivery_id,
            "text": text(view),
            "rollout": _rollout.dump(view),
        },
        separators=(",", ":"),
    )


def text(view) -> str:
    """e.g. ``rollout of upgrade to head by deployer halted: 0 of 200 succeeded, 1 failed``."""
    counts = view.counts
    total = sum(counts.values())
    line = (
        f"rollout of {view.action} to {view.target} by {view.actor} {view.status}: "
        f"{counts.get('succeeded', 0)} of {total} succeeded"
    )
    for status in ("failed", "interrupted"):
        if counts.get(status):
            line += f", {counts[status]} {status}"
    return line
