"""The thread that sends webhooks, one per process, off every request's path.

It wakes when an operation ends (OperationLog.on_end), when a retry is due, and every
SWEEP_SECONDS anyway. Each time it looks in the store: an operation that ended within the
retry window without a delivery to a receiver that wants its event gets one; every pending
delivery that is due and unclaimed is claimed, sent, and recorded. The store, not memory,
is the queue, so a process that dies leaves nothing behind that another cannot pick up; and
two processes never send one attempt twice (a claim is a conditional UPDATE).

Retries: after attempt n fails, the next comes min(2**(n-1), MAX_BACKOFF) seconds later
(1, 2, 4 ... 60 s), as long as it starts within WEBHOOK_RETRY_SECONDS of the first; then
the delivery is failed. Delivery is at least once: a process killed between a receiver's
answer and its record sends that attempt again (the body's delivery_id is the same).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from api import exceptions
from api.service.oplog import FAILED, Deliveries, Delivery
from api.service.oplog.deliveries import DELIVERED
from api.service.oplog.record import now
from api.webhooks import message, rollout_message, transport
from api.webhooks.settings import Webhook
from api.webhooks.signing import HEADER, signature

log = logging.getLogger(__name__)

SWEEP_SECONDS = 30.0
MAX_BACKOFF = 60.0
# A claim outlasts the attempt's timeout by this much, so a slow record is not taken for death.
CLAIM_MARGIN = 5.0


class Worker:
    """Sends the webhooks of one operation log."""

    def __init__(
        self,
        deliveries: Deliveries,
        hooks: tuple[Webhook, ...],
        retry_seconds: float,
        timeout: float,
        rollouts: Callable[[datetime], list] | None = None,
    ):
        """``rollouts``: the views of the rollouts that ended since a time (their events)."""
        self._deliveries = deliveries
        self._rollouts = rollouts
        self._hooks = {hook.url: hook for hook in hooks}
        self._retry = timedelta(seconds=retry_seconds)
        self._timeout = timeout
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="migrateway-webhooks", daemon=True)

    def start(self) -> None:
        """Start looking: at once (what a dead process left), then as told and every sweep."""
        self._thread.start()

    def wake(self) -> None:
        """Look now (an operation has ended); returns at once."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the attempt under way (for tests; a process's end stops it anyway)."""
        self._stopped = True
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopped:
            try:
                wait = self.sweep()
            except exceptions.DatabaseUnavailable as exc:
                log.warning("webhooks: the operation log cannot be read now: %s", exc.detail)
                wait = SWEEP_SECONDS
            except Exception:  # a thread has nobody to raise to; it must go on
                log.exception("webhooks: sending failed")
                wait = SWEEP_SECONDS
            self._wake.wait(wait)
            self._wake.clear()

    def sweep(self) -> float:
        """Record what is to be sent, send what is due; return the seconds until the next
        delivery is due (at most SWEEP_SECONDS)."""
        self._record_ended()
        for delivery in self._deliveries.due(now()):
            if self._stopped:
                break
            if self._deliveries.claim(delivery.id, self._timeout + CLAIM_MARGIN):
                self._attempt(delivery)
        due = self._deliveries.next_due()
        if due is None:
            return SWEEP_SECONDS
        return min(SWEEP_SECONDS, max(0.0, (due - now()).total_seconds()))

    def _record_ended(self) -> None:
        ended = self._deliveries.ended_since(now() - self._retry)
        made = self._deliveries.made([op.id for op in ended])
        for op in ended:
            event = message.event_of(op)
            for hook in self._hooks.values():
                if hook.wants(event) and (op.id, hook.url) not in made:
                    delivery = Delivery(operation_id=op.id, event=event, url=hook.url)
                    delivery.body = message.body(op, delivery.id)
                    self._deliveries.add(delivery)
        if self._rollouts is None:
            return
        views = {rollout_message.end_id(view): view for view in self._rollouts(now() - self._retry)}
        made = self._deliveries.made(list(views))
        for end_id, view in views.items():
            event = rollout_message.event_of(view)
            for hook in self._hooks.values():
                if hook.wants(event) and (end_id, hook.url) not in made:
                    delivery = Delivery(operation_id=end_id, event=event, url=hook.url)
                    delivery.body = rollout_message.body(view, delivery.id)
                    self._deliveries.add(delivery)

    def _attempt(self, delivery: Delivery) -> None:
        hook = self._hooks.get(delivery.url)
        if hook is None:  # the setting changed since it was recorded
            self._deliveries.attempted(
                delivery.id, status=FAILED, error="its url is no longer in MIGRATEWAY_WEBHOOKS"
            )
            return
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Migrateway-Webhooks",
            "Migrateway-Event": delivery.event,
            "Migrateway-Delivery": delivery.id,
            HEADER: signature(hook.secret, int(time.time()), body),
        }
        status, description = transport.post(hook.url, body, headers, self._timeout)
        attempt = delivery.attempts + 1
        extra = {"operation_id": delivery.operation_id}
        if status is not None and 200 <= status < 300:
            self._deliveries.attempted(
                delivery.id, status=DELIVERED, status_code=status, error=None, delivered_at=now()
            )
            log.info(
                "webhook %s to %s: delivered (attempt %d, %s)",
                delivery.event,
                hook.url,
                attempt,
                description,
                extra={**extra, "event": "webhook_delivered"},
            )
            return
        retry_at = _retry_at(delivery.created_at, attempt, self._retry)
        self._deliveries.attempted(
            delivery.id,
            status=FAILED if retry_at is None else delivery.status,
            status_code=status,
            error=description,
            next_attempt_at=retry_at,
        )
        log.warning(
            "webhook %s to %s: attempt %d failed (%s); %s",
            delivery.event,
            hook.url,
            attempt,
            description,
            "given up" if retry_at is None else f"retried at {retry_at.isoformat()}",
            extra={**extra, "event": "webhook_failed"},
        )


def _retry_at(first: datetime, attempts: int, window: timedelta) -> datetime | None:
    """When to try again after ``attempts`` failed ones; None once that would be past the
    window that began with the first."""
    at = now() + timedelta(seconds=min(2.0 ** (attempts - 1), MAX_BACKOFF))
    return at if at <= first + window else None


def init_app(app, svc) -> Worker | None:
    """Start the worker of ``svc``'s operation log when MIGRATEWAY_WEBHOOKS names receivers."""
    hooks = app.config["MIGRATEWAY_WEBHOOKS"]
    if not hooks:
        return None
    from api.rollouts.control import ended_since

    worker = Worker(
        Deliveries(svc.oplog),
        hooks,
        app.config["WEBHOOK_RETRY_SECONDS"],
        app.config["WEBHOOK_TIMEOUT"],
        rollouts=lambda since: ended_since(app, since),
    )
    svc.oplog.on_end = worker.wake
    app.extensions["migrateway_webhooks"] = worker
    worker.start()
    return worker
