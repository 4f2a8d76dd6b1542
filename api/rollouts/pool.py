"""The embedded executor: a bounded pool of worker processes inside the service."""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from api.service.oplog import Rollouts

log = logging.getLogger(__name__)

_app = None  # the worker process's own app, made once by _start


def _start(config: dict) -> None:
    global _app
    from api import create_app

    _app = create_app(config)


def _run(rollout_id: str, name: str) -> None:
    from api.rollouts.job import run_target

    with _app.app_context():
        run_target(rollout_id, name)


class ProcessPool:
    """Runs each target in one of ``workers`` processes, each with an app made from the
    service's configuration. Processes, not threads: Alembic's ``context`` is process-global.
    Spawned, not forked: the service's threads may hold locks a fork would copy held."""

    def __init__(self, config: dict, workers: int, store: Rollouts):
        self._config, self._workers, self._store = config, workers, store
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self._workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start,
                    initargs=(self._config,),
                )
            return self._pool

    def submit(self, rollout_id: str, name: str) -> None:
        try:
            future = self._executor().submit(_run, rollout_id, name)
        except BrokenProcessPool:  # a worker died: a new pool for what comes next
            with self._lock:
                self._pool = None
            future = self._executor().submit(_run, rollout_id, name)
        future.add_done_callback(lambda done: self._lost(done, rollout_id, name))

    def _lost(self, done: Future, rollout_id: str, name: str) -> None:
        """A target whose process died before it wrote how it ended is interrupted (the
        operation log says whether anything of it ran; resume runs it again if not)."""
        error = done.exception()
        if error is None:
            return
        if isinstance(error, BrokenProcessPool):
            with self._lock:
                self._pool = None
        log.error("rollout %s: the process running target %s stopped: %s", rollout_id, name, error)
        self._store.interrupt(
            rollout_id, name, f"the process running it stopped ({type(error).__name__})"
        )

    def shutdown(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
