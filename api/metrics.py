"""Prometheus metrics, computed at scrape time from the operation log and the database.

Nothing is counted in memory: with several gunicorn workers (or replicas) each would count
only the requests it served, and every scrape would tell a different story. The shared
operation log and the database give every worker the same figures.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from sqlalchemy.exc import SQLAlchemyError

from api import exceptions
from api.service import MigrationService
from api.service.database import describe_error
from api.service.oplog import RUNNING

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
log = logging.getLogger(__name__)


class MigratewayCollector:
    """Yields the service's metrics; each scrape reads them afresh."""

    def __init__(self, svc: MigrationService):
        self._svc = svc

    def collect(self) -> Iterator[Metric]:
        database_up = True
        try:
            stats = self._svc.operation_stats()
        except (SQLAlchemyError, exceptions.Problem) as exc:
            log.warning("metrics: the operation log cannot be read: %s", describe_error(exc))
            stats, database_up = None, False
        state = None
        if database_up:
            try:
                state = self._svc.current()
            except exceptions.DatabaseUnavailable:
                database_up = False
            except exceptions.Problem:
                # The database answers but its revision cannot be placed (unknown revision,
                # migrations directory broken): /current says why; here the figures are left out.
                pass

        yield _gauge("migrateway_database_up", "1 if the database answered", database_up)
        if stats is not None:
            yield from _operation_metrics(stats)
        if state is not None:
            yield from _revision_metrics(state)
        if database_up:  # a revision whose file is gone leaves no state, and is counted here
            yield from integrity_metrics(self._svc)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


def _operation_metrics(stats: dict) -> Iterator[Metric]:
    finished = CounterMetricFamily(
        "migrateway_operations",
        "Finished upgrades, downgrades and stamps (dry runs excluded), by kind and status",
        labels=["kind", "status"],
    )
    running = 0
    for (kind, status), n in sorted(stats["counts"].items()):
        # A running operation becomes a finished one: counting it here would make the
        # counter go down, which Prometheus reads as a reset.
        if status == RUNNING:
            running += n
        else:
            finished.add_metric([kind, status], n)
    yield finished
    yield _gauge("migrateway_operations_running", "Operations running now", running)

    seconds = CounterMetricFamily(
        "migrateway_operation_duration_seconds",
        "Total time spent in finished operations, by kind",
        labels=["kind"],
    )
    for kind, total in sorted(stats["seconds"].items()):
        seconds.add_metric([kind], total)
    yield seconds

    waits, waited = stats["lock_waits"]
    yield SummaryMetricFamily(
        "migrateway_lock_wait_seconds",
        "Time operations waited for the migration lock",
        count_value=waits,
        sum_value=waited,
    )


def _revision_metrics(state) -> Iterator[Metric]:
    pending = len(state.pending)
    yield _gauge("migrateway_pending_revisions", "Revisions an upgrade would apply", pending)
    yield _gauge("migrateway_up_to_date", "1 if the database is at the heads", state.up_to_date)
    info = InfoMetricFamily(
        "migrateway_current_revision",
        "The database's revision (one sample per head; 'base' when unversioned)",
        labels=["revision"],
    )
    for revision in state.current or ("base",):
        info.add_metric([revision], {})
    yield info


VERIFY_STATUSES = ("ok", "file_changed", "missing_file", "unknown_prior")
# Model drift runs env.py and reflects every table: a scrape reuses a report this young
# (Prometheus scrapes every 15 to 60 s; GET /verify always computes it afresh).
DRIFT_MAX_AGE = 60.0
_drift_reports: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _recent_drift(svc: MigrationService) -> dict:
    taken = _drift_reports.get(svc)
    if taken is None or time.monotonic() - taken[0] > DRIFT_MAX_AGE:
        taken = (time.monotonic(), svc.drift())
        _drift_reports[svc] = taken
    return taken[1]


def integrity_metrics(svc: MigrationService) -> Iterator[Metric]:
    """The applied revisions by GET /verify's status, and the drift differences by part
    (models, schema; only the parts checked), as GET /verify finds them now."""
    try:
        counts = svc.verify_counts()
        drift = _recent_drift(svc)
    except (SQLAlchemyError, exceptions.Problem) as exc:
        log.warning("metrics: the integrity checks failed: %s", describe_error(exc))
        return
    by_status = GaugeMetricFamily(
        "migrateway_applied_revisions",
        "Applied revisions by verify status (ok, file_changed, missing_file, unknown_prior)",
        labels=["status"],
    )
    for status in VERIFY_STATUSES:
        by_status.add_metric([status], counts.get(status, 0))
    yield by_status
    yield drift_gauge(drift)


def drift_gauge(drift: dict) -> GaugeMetricFamily:
    """migrateway_drift_differences from a drift report ({part: {checked, ok, differences}}):
    the differences that count against ok (false positives left out), per part checked."""
    gauge = GaugeMetricFamily(
        "migrateway_drift_differences",
        "Differences between the database and the models or its last snapshot, by part",
        labels=["part"],
    )
    for part, found in sorted(drift.items()):
        if found.get("checked"):
            real = [d for d in found.get("differences", []) if not d.get("false_positive")]
            gauge.add_metric([part], len(real))
    return gauge


def render(svc: MigrationService) -> bytes:
    """The metrics in the Prometheus text format (version 0.0.4)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MigratewayCollector(svc))
    return generate_latest(registry)
