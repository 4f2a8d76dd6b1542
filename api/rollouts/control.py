"""Start, resume and cancel rollouts, and read them: what the resources call."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field

from flask import Flask

from api import exceptions
from api.rollouts.coordinator import Driver
from api.rollouts.store import rollout_store
from api.rollouts.waves import DEFAULT_WAVES, split, wave_sizes
from api.service.oplog.rollout_records import (
    CANCELLED,
    FAILED,
    HALTED,
    INTERRUPTED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    Rollout,
    RolloutTarget,
    driver_gone,
)

_making = threading.Lock()  # one executor per process, however many rollouts start at once
TARGET_STATUSES = (PENDING, RUNNING, SUCCEEDED, FAILED, INTERRUPTED)
# What resume takes over: a rollout stopped on a failure or by a cancel, one that ended with
# failures (on_failure: continue), and one whose driver died (read as interrupted).
RESUMABLE = (HALTED, FAILED, CANCELLED)


@dataclass
class RolloutView:
    """A rollout as answered: its record, each wave's progress and each target's state."""

    rollout: Rollout
    status: str
    waves: list[dict]
    counts: dict[str, int]
    targets: list[RolloutTarget] = field(default_factory=list)

    def __getattr__(self, name: str):  # the record's fields, for the schema
        return getattr(self.rollout, name)


def start(app: Flask, asked: dict, actor: str) -> RolloutView:
    """Record a rollout of ``asked`` (the parsed request) and start driving it.

    :raises InvalidRollout: unknown target names, waves that do not fit the targets.
    """
    if "target" not in asked:
        if asked["action"] == "downgrade":  # a rollback never guesses where to
            raise exceptions.InvalidRollout(
                "A downgrade rollout must say its target.", errors={"target": ["required"]}
            )
        asked["target"] = "head"
    fleet = app.extensions["migrateway_targets"]
    known = [x.name for x in fleet.targets]
    if asked["targets"] == "*":
        names = known
    elif not isinstance(asked["targets"], list) or not all(
        isinstance(name, str) for name in asked["targets"]
    ):
        raise exceptions.InvalidRollout(
            'targets must be "*" (every target) or a list of target names.',
            errors={"targets": ['"*" or a list of names']},
        )
    else:
        names = list(dict.fromkeys(asked["targets"]))
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise exceptions.InvalidRollout(
                f"No target is named {', '.join(map(repr, unknown[:10]))}; "
                "GET /targets lists them.",
                errors={"targets": unknown[:100]},
            )
    if not names:
        raise exceptions.InvalidRollout(
            "The rollout names no target (MIGRATEWAY_TARGETS is empty)."
        )
    spec = asked.get("waves") or DEFAULT_WAVES
    try:
        waves = split(names, wave_sizes(spec, len(names)))
    except ValueError as exc:
        raise exceptions.InvalidRollout(f"waves: {exc}", errors={"waves": [str(exc)]}) from None
    rollout = Rollout(
        action=asked["action"],
        target=asked["target"],
        actor=actor,
        parallelism=asked["parallelism"],
        on_failure=asked["on_failure"],
        waves=json.dumps(spec),
    )
    rows = [
        RolloutTarget(rollout_id=rollout.id, name=name, wave=number, position=position)
        for position, (number, name) in enumerate(
            (number, name) for number, wave in enumerate(waves, 1) for name in wave
        )
    ]
    store = rollout_store(app)
    store.create(rollout, rows)
    _drive(app, rollout.id)
    return read(app, rollout.id)


def resume(app: Flask, rollout_id: str) -> RolloutView:
    """Drive a halted, failed, cancelled or interrupted rollout on from where it stopped:
    targets that succeeded are never run again.

    :raises UnknownRollout, RolloutConflict:
    """
    view = read(app, rollout_id)
    if view.status == SUCCEEDED:
        raise exceptions.RolloutConflict(
            f"Rollout {rollout_id} succeeded: there is nothing to resume.", status_now=view.status
        )
    if not rollout_store(app).take_over(rollout_id, RESUMABLE):
        raise exceptions.RolloutConflict(
            f"Rollout {rollout_id} is running; cancel it first, or wait for it.",
            status_now=view.status,
        )
    _drive(app, rollout_id)
    return read(app, rollout_id)


def cancel(app: Flask, rollout_id: str) -> RolloutView:
    """Start no more targets; those under way finish. A rollout whose driver died is
    cancelled at once (nothing of it is under way here).

    :raises UnknownRollout, RolloutConflict:
    """
    view = read(app, rollout_id)
    store = rollout_store(app)
    if view.status == INTERRUPTED:
        store.update(rollout_id, status=CANCELLED, cancel_requested=True)
    elif view.status == RUNNING:
        store.update(rollout_id, cancel_requested=True)
    else:
        raise exceptions.RolloutConflict(
            f"Rollout {rollout_id} is {view.status}: only a running one can be cancelled.",
            status_now=view.status,
        )
    return read(app, rollout_id)


def read(app: Flask, rollout_id: str) -> RolloutView:
    """:raises UnknownRollout:"""
    store = rollout_store(app)
    rollout = store.get(rollout_id)
    if rollout is None:
        raise exceptions.UnknownRollout(
            f"No rollout has the id {rollout_id!r}; GET /rollouts lists them.",
            rollout_id=rollout_id[:100],
        )
    targets = store.targets(rollout_id)
    counts = dict.fromkeys(TARGET_STATUSES, 0)
    waves: dict[int, dict] = {}
    for x in targets:
        counts[x.status] = counts.get(x.status, 0) + 1
        wave = waves.setdefault(x.wave, {"wave": x.wave, **dict.fromkeys(TARGET_STATUSES, 0)})
        wave[x.status] += 1
    for wave in waves.values():
        size = sum(wave[s] for s in TARGET_STATUSES)
        wave["size"] = size
        wave["status"] = _wave_status(wave, size)
    return RolloutView(rollout, _status(rollout), list(waves.values()), counts, targets)


def page(app: Flask, limit: int, offset: int) -> tuple[list[RolloutView], int]:
    """The newest rollouts first (without their targets), and how many there are."""
    store = rollout_store(app)
    found, total = store.page(limit, offset)
    counts = store.counts([x.id for x in found])
    views = [
        RolloutView(x, _status(x), [], {**dict.fromkeys(TARGET_STATUSES, 0), **counts[x.id]})
        for x in found
    ]
    return views, total


def ended_since(app: Flask, since) -> list[RolloutView]:
    """The rollouts that halted or ended since then, with their counts (for webhooks)."""
    store = rollout_store(app)
    found = store.ended_since(since)
    counts = store.counts([x.id for x in found])
    return [
        RolloutView(x, x.status, [], {**dict.fromkeys(TARGET_STATUSES, 0), **counts[x.id]})
        for x in found
    ]


def _status(rollout: Rollout) -> str:
    return INTERRUPTED if driver_gone(rollout) else rollout.status


def _wave_status(wave: dict, size: int) -> str:
    if wave[SUCCEEDED] == size:
        return SUCCEEDED
    if wave[PENDING] == size:
        return PENDING
    if wave[RUNNING] or not (wave[FAILED] or wave[INTERRUPTED]):
        return RUNNING
    return FAILED


def _drive(app: Flask, rollout_id: str) -> None:
    hooks = app.extensions.get("migrateway_webhooks")  # told at once when it halts or ends
    on_end = (lambda _id: hooks.wake()) if hooks is not None else None
    Driver(rollout_store(app), executor(app), rollout_id, on_end).start()


def executor(app: Flask):
    """This process's executor: Celery's when CELERY_BROKER_URL is set, else a pool of
    ROLLOUT_WORKERS processes (made on first use)."""
    with _making:
        return _executor(app)


def _executor(app: Flask):
    made = app.extensions.get("migrateway_executor")
    if made is None:
        if app.config.get("CELERY_BROKER_URL"):
            from api.rollouts.celery_app import CeleryExecutor

            made = CeleryExecutor(app.config)
        else:
            from api.rollouts.pool import ProcessPool

            workers = app.config.get("ROLLOUT_WORKERS") or os.cpu_count() or 2
            made = ProcessPool(app.extensions["migrateway_config"], workers, rollout_store(app))
        app.extensions["migrateway_executor"] = made
    return made


def queue_operation(app: Flask, target: str | None, op_id: str, write, ctx) -> None:
    """Hand queued operation ``op_id`` (Prefer: respond-async) of ``target`` (None: the
    DATABASE_URL's) to Celery's workers.

    :raises kombu.exceptions.OperationalError: the broker cannot be reached.
    """
    from api.service.queued import sent

    executor(app).queue_operation(target, op_id, *sent(write, ctx))
