"""The driver of one rollout: wave after wave, at most `parallelism` targets at once.

It keeps nothing it could lose: each decision is read from the store, and each target's end
is written there by the process that ran it (api/rollouts/job.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from itertools import groupby

from api.rollouts.executors import Executor
from api.service.oplog import Rollouts
from api.service.oplog.record import now
from api.service.oplog.rollout_records import (
    CANCELLED,
    FAILED,
    HALTED,
    HEARTBEAT,
    RUNNING,
    SUCCEEDED,
    RolloutTarget,
)

log = logging.getLogger(__name__)

# How often the driver looks at the targets under way (seconds): a target takes far longer.
POLL = 0.1


class Driver:
    """Drives rollout ``rollout_id`` to its end (or its halt, or its cancel)."""

    def __init__(
        self,
        store: Rollouts,
        executor: Executor,
        rollout_id: str,
        on_end: Callable[[str], None] | None = None,
    ):
        self.store, self.executor, self.id = store, executor, rollout_id
        self.on_end = on_end
        self._beat = 0.0
        self._unqueued = False  # a target could not be handed to the executor

    def start(self) -> threading.Thread:
        """Drive in a thread of this process; a crash of the process leaves the rollout
        `running` with a silent heartbeat, which resume takes over."""
        thread = threading.Thread(target=self.run, name=f"rollout-{self.id[:8]}", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        try:
            status = self._drive()
        except Exception:  # the heartbeat stops: the rollout reads interrupted, resumable
            log.exception("rollout %s: its driver stopped", self.id)
            return
        self.store.update(self.id, status=status, finished_at=now())
        log.info("rollout %s %s", self.id, status, extra={"event": "rollout_" + status})
        if self.on_end is not None:
            self.on_end(self.id)

    def _drive(self) -> str:
        rollout = self.store.get(self.id)
        waves = groupby(self.store.targets(self.id), key=lambda x: x.wave)
        for _wave, rows in waves:
            if self._run_wave(list(rows), rollout.parallelism):
                return CANCELLED
            if self._unqueued:
                return HALTED
            ended = {x.status for x in self.store.targets(self.id) if x.status != "pending"}
            if ended - {SUCCEEDED} and rollout.on_failure == "halt":
                return HALTED
        statuses = {x.status for x in self.store.targets(self.id)}
        return SUCCEEDED if statuses == {SUCCEEDED} else FAILED

    def _run_wave(self, rows: list[RolloutTarget], parallelism: int) -> bool:
        """Run the wave's targets that have not succeeded; True when it was cancelled (the
        targets under way finish, no other starts)."""
        todo = [x for x in rows if x.status != SUCCEEDED]
        running: set[str] = set()
        cancelled = False
        while todo or running:
            if not cancelled and self.store.get(self.id).cancel_requested:
                cancelled, todo = True, []
            while todo and len(running) < parallelism:
                row = todo.pop(0)
                # A target left running by a driver that died runs under the same key, so its
                # run (if still under way elsewhere) is waited for, never run twice.
                attempt = row.attempt if row.status == RUNNING else row.attempt + 1
                self.store.update_target(
                    self.id,
                    row.name,
                    status=RUNNING,
                    attempt=attempt,
                    error=None,
                    operation_id=None,
                    started_at=now(),
                    finished_at=None,
                )
                try:
                    self.executor.submit(self.id, row.name)
                except Exception as exc:  # a broker down: the target never left, say why
                    log.error("rollout %s: target %s not queued: %s", self.id, row.name, exc)
                    self.store.interrupt(
                        self.id,
                        row.name,
                        f"it could not be queued: {type(exc).__name__}: {exc}"[:500],
                    )
                    self._unqueued = True
                    todo = []  # those under way finish; then it halts, for resume
                    break
                running.add(row.name)
            time.sleep(POLL)
            self._heartbeat()
            if running:
                ended = self.store.targets(self.id, sorted(running))
                running -= {x.name for x in ended if x.status != RUNNING}
        return cancelled

    def _heartbeat(self) -> None:
        if time.monotonic() - self._beat >= HEARTBEAT:
            self._beat = time.monotonic()
            self.store.update(self.id, heartbeat_at=now())
