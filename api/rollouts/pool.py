"""The embedded executor: a bounded pool of worker processes inside the service."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from api.service.oplog import Rollouts

log = logging.getLogger(__name__)

_app = None  # the worker process's own app, made once by _start
# A worker outlives a service killed alone (SIGKILL, the out-of-memory killer): its task queue
# never reads as closed, each worker holding both of its ends. So it looks this often (seconds)
# whether the service is there, and leaves once it is not, after the target it runs.
ORPHAN_CHECK = 1.0
_running = threading.Lock()  # held while a target runs

# What the fork server imports once: a worker forked from it starts with the service loaded,
# instead of a fresh interpreter importing it (about 1.5 s a worker, paid again for each pool).
_PRELOAD = ["api.rollouts.pool", "api.rollouts.job"]


def _context() -> multiprocessing.context.BaseContext:
    """Workers forked from a fork server: a process of its own, single-threaded, started at the
    first pool (the service's threads may hold locks a fork of the service would copy held)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def _start(config: dict, environ: dict[str, str], cwd: str, path: list[str], service: int) -> None:
    global _app
    threading.Thread(target=_leave_when_gone, args=(service,), daemon=True).start()
    # What a spawned worker would have inherited from the service: the fork server has what
    # its own start saw, which may be older.
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    sys.path[:] = path
    from api import create_app

    _app = create_app(config)


def _run(rollout_id: str, name: str) -> None:
    from api.rollouts.job import run_target

    with _running, _app.app_context():
        run_target(rollout_id, name)


def _leave_when_gone(service: int) -> None:
    while True:
        time.sleep(ORPHAN_CHECK)
        try:
            os.kill(service, 0)
        except ProcessLookupError:
            with _running:  # the target under way ends, and writes how, first
                os._exit(0)


class ProcessPool:
    """Runs each target in one of ``workers`` processes, each with an app made from the
    service's configuration. Processes, not threads: Alembic's ``context`` is process-global.
    Forked from a fork server (see _context), not from the service."""

    def __init__(self, config: dict, workers: int, store: Rollouts):
        self._config, self._workers, self._store = config, workers, store
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self._workers,
                    mp_context=_context(),
                    initializer=_start,
                    initargs=(
                        self._config,
                        dict(os.environ),
                        os.getcwd(),
                        list(sys.path),
                        os.getpid(),
                    ),
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
