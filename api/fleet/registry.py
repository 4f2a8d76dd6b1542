"""The targets of one process: a MigrationService per target, made on first use."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from api.exceptions import DatabaseUnavailable, UnknownTarget
from api.fleet.settings import Discovery, Target

if TYPE_CHECKING:
    from api.fleet.discovery import Discoverer

log = logging.getLogger(__name__)

# A name no listing knows is looked up again at most this often: a new tenant schema answers
# at once, and a client asking for names that do not exist costs one catalogue query a second.
MISS_RELIST_SECONDS = 1.0


class Fleet:
    """The named targets and their services.

    A service (with its engine and pool) is made the first time its target is used, so a list
    of hundreds of targets opens nothing at start. Each brings its own lock key, operation log
    and idempotency, since all three live in or beside its database (or its tenant schema).
    Discovery entries are listed again at each :attr:`targets`.
    """

    def __init__(
        self,
        entries: tuple[Target | Discovery, ...],
        build: Callable[[Target], object],
        discoverer: Discoverer | None = None,
    ):
        """``build``: the MigrationService of one target; ``discoverer`` lists the targets of
        the discovery entries (api/fleet/discovery.py)."""
        self._entries = entries
        self._by_name = {t.name: t for t in entries if isinstance(t, Target)}
        self._build = build
        self._discoverer = discoverer
        # By target, not name: a name a listing gives another schema or URL gets a new service.
        self._services: dict[Target, object] = {}
        # The rows of discovery entries whose database could not be listed: pattern -> why.
        self._unlisted: dict[str, str] = {}
        self._listed_at = 0.0
        self._lock = threading.Lock()

    @property
    def targets(self) -> tuple[Target, ...]:
        """Every target, in the configured order; a discovery entry stands, where it is in the
        list, for its schemas sorted by name, or for one row named after its pattern when its
        database cannot be reached (its service answers 503)."""
        if not any(isinstance(e, Discovery) for e in self._entries):
            return tuple(self._by_name.values())
        expanded: list[Target] = []
        unlisted: dict[str, str] = {}
        names = {e.name for e in self._entries if isinstance(e, Target)}
        for entry in self._entries:
            if isinstance(entry, Target):
                expanded.append(entry)
                continue
            try:
                found = self._discoverer.targets(entry)
            except DatabaseUnavailable as exc:
                unlisted[entry.pattern] = exc.detail
                expanded.append(Target(entry.pattern, entry.url))
                continue
            for target in found:
                if target.name in names:
                    log.warning("schema target %r: the name is taken, skipped", target.name)
                    continue
                names.add(target.name)
                expanded.append(target)
        with self._lock:
            self._by_name = {t.name: t for t in expanded if t.name not in unlisted}
            self._unlisted = unlisted
            self._listed_at = time.monotonic()
        return tuple(expanded)

    def __len__(self) -> int:
        return len(self.targets)

    def target(self, name: str) -> Target:
        """The target named ``name`` (a discovery entry's schemas listed again when the name
        is new).

        :raises UnknownTarget:
        :raises DatabaseUnavailable: ``name`` is a discovery entry whose database is down.
        """
        target = self._by_name.get(name)
        stale = time.monotonic() - self._listed_at >= MISS_RELIST_SECONDS
        if target is None and name not in self._unlisted and stale:
            self.targets  # noqa: B018 - listed again: the schema may be new
            target = self._by_name.get(name)
        if name in self._unlisted:
            raise DatabaseUnavailable(self._unlisted[name])
        if target is None:
            raise UnknownTarget(
                f"No target is named {name!r}. GET /targets lists them.", target=name[:100]
            )
        return target

    def catalogue_engine(self, url: str):
        """The small engine that lists and reads the tenant schemas of the database at
        ``url`` (None when no target is a schema target)."""
        return None if self._discoverer is None else self._discoverer.engine(url)

    def has_service(self, name: str) -> bool:
        """Whether this process has made the service of target ``name``."""
        target = self._by_name.get(name)
        return target is not None and target in self._services

    def service(self, name: str):
        """The service of target ``name``.

        :raises UnknownTarget:
        :raises DatabaseUnavailable: ``name`` is a discovery entry whose database is down.
        """
        target = self.target(name)
        found = self._services.get(target)
        if found is not None:
            return found
        with self._lock:  # two first requests at once must share one engine
            if target not in self._services:
                self._services[target] = self._build(target)
            return self._services[target]

    def release(self, name: str) -> None:
        """Forget target ``name``'s service and close its connections (made again on its next
        use): a worker process runs each target of a rollout once, and a thousand open pools
        would exhaust the database's connections and the process's files."""
        target = self._by_name.get(name)
        with self._lock:
            svc = self._services.pop(target, None) if target is not None else None
        if svc is not None:
            _close_pools(svc)

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
        if self._discoverer is not None:
            self._discoverer.dispose()


def _close_pools(svc) -> None:
    """Close the idle pooled connections of ``svc``'s database and of its operation log (a
    file of its own on SQLite); one in use is closed when it is given back."""
    svc.engine.dispose()
    log_engine = svc.oplog.engine
    if log_engine is not svc.engine:
        log_engine.dispose()
