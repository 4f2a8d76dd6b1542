"""GET /targets: one row per target, read concurrently, each read bounded in time."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from flask import Flask

from api.exceptions import DatabaseUnavailable, Problem
from api.fleet import quick_read, schema_reads
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


class Verdicts:
    """Where a target's version rows stand against the graph (up to date, how many pending,
    or a problem), worked out once per listing for each distinct set of rows: most of a fleet
    sits at the same few revisions. The graph is DATABASE_URL's service's: the directory is
    the one every target shares."""

    def __init__(self, app: Flask):
        self._app = app
        self._memo: dict[tuple[str, ...], tuple[bool, int] | str] = {}
        self._lock = threading.Lock()

    def of(self, heads: tuple[str, ...]) -> tuple[bool, int] | str:
        """(up to date, pending count), or the problem slug (a revision the directory lacks,
        a directory that does not load)."""
        found = self._memo.get(heads)
        if found is None:
            with self._lock, self._app.app_context():
                try:
                    graph = self._app.extensions["migrateway"].graph()
                    graph.check_known(heads)
                    found = (set(heads) == set(graph.heads), len(graph.pending(heads)))
                except Problem as problem:
                    found = problem.slug
                self._memo[heads] = found
        return found


def read_row(app: Flask, fleet: Fleet, name: str, verdicts: Verdicts | None = None) -> Row:
    """The state of one target; an unreachable database is a row, not an error."""
    with app.app_context():
        try:
            # In the try: a discovery entry whose database is down is a row too.
            quick = _quick_row(app, fleet, name, verdicts or Verdicts(app))
            if quick is not None:
                return quick
            with fleet.reading(name) as svc:
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


def _quick_row(app: Flask, fleet: Fleet, name: str, verdicts: Verdicts) -> Row | None:
    """The row of a SQLite target read without making its service (api/fleet/quick_read.py);
    None when the target's service must answer. A target whose service this process has
    made is read through it: its log may hold records the file could not take yet."""
    path = quick_read.sqlite_path(fleet.target(name).url)
    if path is None or fleet.has_service(name):
        return None
    status = quick_read.read(path, app.extensions["migrateway"].version_table)
    if status is None:
        return None
    if status is quick_read.NOT_A_DATABASE:
        return Row(name, reachable=False)
    return _row_of(name, status, verdicts)


def _row_of(name: str, status: quick_read.Status, verdicts: Verdicts) -> Row:
    """The row of a target whose version rows and newest operation were read directly."""
    verdict = verdicts.of(status.heads)
    if isinstance(verdict, str):
        return Row(name, reachable=True, problem=verdict)
    up_to_date, pending = verdict
    return Row(
        name,
        reachable=True,
        current=status.heads,
        up_to_date=up_to_date,
        pending=pending,
        last_operation=status.last_operation,
    )


def _schema_rows(
    app: Flask, fleet: Fleet, names: list[str], verdicts: Verdicts, timeout: float
) -> dict[str, Row]:
    """The rows of the PostgreSQL schema targets among ``names`` read in batches, a connection
    per database (api/fleet/schema_reads.py); a target missing here is read by its service.
    One whose service this process has made is left to it, as for SQLite."""
    by_url: dict[str, list[tuple[str, str]]] = {}
    for name in names:
        try:
            target = fleet.target(name)
        except Problem:  # a discovery entry's row whose database is down: its service says
            continue
        if target.schema is None or fleet.has_service(name):
            continue
        by_url.setdefault(target.url, []).append((name, target.schema))
    rows: dict[str, Row] = {}
    table = app.extensions["migrateway"].version_table.name
    for url, tenants in by_url.items():
        engine = fleet.catalogue_engine(url)
        if engine is None or engine.dialect.name != "postgresql":
            continue
        try:
            found = schema_reads.read(engine, [schema for _, schema in tenants], table, timeout)
        except Exception:  # the database is down or refused: each service tells the row
            log.warning("batched read of the tenant schemas of %s failed", url, exc_info=True)
            continue
        for name, schema in tenants:
            status = found.get(schema)
            if status is not None:
                rows[name] = _row_of(name, status, verdicts)
    return rows


def read_rows(app: Flask, fleet: Fleet, names: list[str], timeout: float) -> list[Row]:
    """The rows of ``names``, in that order: tenant schemas in batches, the other targets at
    most READERS at a time.

    A target that has not answered ``timeout`` seconds after its read started is a row with
    ``reachable`` false: one slow database cannot hold the page (its thread finishes on its own).
    """
    verdicts = Verdicts(app)
    quick = _schema_rows(app, fleet, names, verdicts, timeout) if names else {}
    rest = iter(_read_each(app, fleet, [n for n in names if n not in quick], timeout, verdicts))
    return [quick[name] if name in quick else next(rest) for name in names]


def _read_each(
    app: Flask, fleet: Fleet, names: list[str], timeout: float, verdicts: Verdicts
) -> list[Row]:
    """The rows of ``names``, each read on its own in one of READERS threads."""
    if not names:
        return []
    workers = min(READERS, len(names))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fleet")
    started: dict[str, float] = {}
    # Past this, a read still queued behind stuck ones is given up too.
    deadline = time.monotonic() + timeout * (len(names) // workers + 2)

    def timed(name: str) -> Row:
        started[name] = time.monotonic()
        return read_row(app, fleet, name, verdicts)

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
