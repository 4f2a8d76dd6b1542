"""The targets of one process: a MigrationService per target, made on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from api.exceptions import UnknownTarget
from api.fleet.settings import Target


class Fleet:
    """The named targets and their services.

    A service (with its engine and pool) is made the first time its target is used, so a list
    of hundreds of targets opens nothing at start. Each brings its own lock key, operation log
    and idempotency, since all three live in or beside its database.
    """

    def __init__(self, targets: tuple[Target, ...], build: Callable[[Target], object]):
        """``build``: the MigrationService of one target."""
        self.targets = targets
        self._by_name = {t.name: t for t in targets}
        self._build = build
        self._services: dict[str, object] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.targets)

    def target(self, name: str) -> Target:
        """The target named ``name``.

        :raises UnknownTarget:
        """
        target = self._by_name.get(name)
        if target is None:
            raise UnknownTarget(
                f"No target is named {name!r}. GET /targets lists them.", target=name[:100]
            )
        return target

    def has_service(self, name: str) -> bool:
        """Whether this process has made the service of target ``name``."""
        return name in self._services

    def service(self, name: str):
        """The service of target ``name``.

        :raises UnknownTarget:
        """
        found = self._services.get(name)
        if found is not None:
            return found
        target = self.target(name)
        with self._lock:  # two first requests at once must share one engine
            if name not in self._services:
                self._services[name] = self._build(target)
            return self._services[name]

    @contextmanager
    def reading(self, name: str) -> Iterator:
        """The service of ``name`` for one read of the fleet matrix. One made for this read
        has its pools closed after it: kept open, a listing of thousands of targets held a
        connection per target (two files each on SQLite, a server process each on
        PostgreSQL, past max_connections). The service stays, its graph shared; a later
        call opens a connection again.

        :raises UnknownTarget:
        """
        made = not self.has_service(name)
        svc = self.service(name)
        try:
            yield svc
        finally:
            if made:
                _close_pools(svc)

    def dispose(self) -> None:
        """Close the pooled connections of every target's service made so far."""
        with self._lock:
            for svc in self._services.values():
                _close_pools(svc)


def _close_pools(svc) -> None:
    """Close the idle pooled connections of ``svc``'s database and of its operation log (a
    file of its own on SQLite); one in use is closed when it is given back."""
    svc.engine.dispose()
    log_engine = svc.oplog.engine
    if log_engine is not svc.engine:
        log_engine.dispose()
