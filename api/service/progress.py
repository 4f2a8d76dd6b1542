"""Progress of a running operation, written to its log at a bounded rate."""

from __future__ import annotations

import threading
import time

from api.service.oplog import OperationLog

PROGRESS_INTERVAL = 0.5


class ProgressWriter:
    """Writes progress to the log at most every PROGRESS_INTERVAL seconds (a write per
    revision would cost more than many revisions do), and always within that interval of a
    change, so a slow revision shows as running while it runs. The first report is written at
    once: it says that a revision has begun (see ``OperationLog.mark_interrupted``)."""

    def __init__(self, oplog: OperationLog, op_id: str):
        self._log, self._op_id = oplog, op_id
        self._lock = threading.Lock()
        self._pending: tuple[int, str] | None = None
        self._last = 0.0
        self._timer: threading.Timer | None = None

    def __call__(self, done: int, revision: str) -> None:
        with self._lock:
            self._pending = (done, revision)
            wait = PROGRESS_INTERVAL - (time.monotonic() - self._last)
            if wait <= 0:
                self._flush_locked()
            elif self._timer is None:
                self._timer = threading.Timer(wait, self._flush)
                self._timer.daemon = True
                self._timer.start()

    def _flush(self) -> None:
        with self._lock:
            self._timer = None
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._pending is not None:
            self._last = time.monotonic()
            self._log.progress(self._op_id, *self._pending)
            self._pending = None

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._pending = None
