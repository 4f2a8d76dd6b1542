"""GET /targets: one row per target, read concurrently, each read bounded in time."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from flask import Flask

from api.exceptions import DatabaseUnavailable, Problem
from api.fleet.registry import Fleet

log = logging.getLogger(__name__)

# Reads run in a few threads: each mostly waits on its database, and a larger pool would
# only open more connections at once.
READERS = 8


@dataclass
class Row:
    """What the fleet matrix says of one target."""

    name: str
    reachable: bool
    current: tuple[str, ...] | None = None
    up_to_date: bool | None = None
    pending: int | None = None
    last_operation: object | None = None
    # The problem slug when the target answered but its state cannot be told (a revision
    # the directory lacks, say).
    problem: str | None = None


def read_row(app: Flask, fleet: Fleet, name: str) -> Row:
    """The state of one target; an unreachable database is a row, not an error."""
    with app.app_context():
        try:
            # In the try: a discovery entry whose database is down is a row too.
            svc = fleet.service(name)
            state = svc.current()
            operations, _total = svc.operations(limit=1, offset=0)
        except DatabaseUnavailable:
            return Row(name, reachable=False)
        except Problem as problem:
            return Row(name, reachable=True, problem=problem.slug)
        except Exception:  # a row, never the page's error; the log has the cause
            log.exception("reading target %s failed", name)
            return Row(name, reachable=False, problem="internal-error")
        return Row(
            name,
            reachable=True,
            current=state.current,
            up_to_date=state.up_to_date,
            pending=len(state.pending),
            last_operation=operations[0] if operations else None,
        )


def read_rows(app: Flask, fleet: Fleet, names: list[str], timeout: float) -> list[Row]:
    """The rows of ``names``, in that order, read at most READERS at a time.

    A target that has not answered ``timeout`` seconds after its read started is a row with
    ``reachable`` false: one slow database cannot hold the page (its thread finishes on its own).
    """
    if not names:
        return []
    workers = min(READERS, len(names))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fleet")
    started: dict[str, float] = {}
    # Past this, a read still queued behind stuck ones is given up too.
    deadline = time.monotonic() + timeout * (len(names) // workers + 2)

    def timed(name: str) -> Row:
        started[name] = time.monotonic()
        return read_row(app, fleet, name)

    try:
        futures = [(name, pool.submit(timed, name)) for name in names]
        rows = []
        for name, future in futures:
            while True:
                begun = started.get(name)
                left = (deadline if begun is None else begun + timeout) - time.monotonic()
                try:
                    rows.append(future.result(timeout=max(left, 0.0)))
                    break
                except TimeoutError:
                    now = time.monotonic()
                    if now >= deadline or (name in started and now - started[name] >= timeout):
                        rows.append(Row(name, reachable=False))
                        break
        return rows
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
