"""One revision graph per process, reloaded when the migrations directory's files change."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from alembic.config import Config

from api import exceptions
from api.gc_pause import long_lived
from api.service.alembic_env import ROOTS
from api.service.alembic_errors import migrations_unavailable
from api.service.graph import RevisionGraph, alembic_script
from api.service.revision_headers import Header, revision_files, scan, stamps, version_locations


class GraphCache:
    """Keeps one RevisionGraph per process and reloads it only when the version files change.

    The full check is a listing with every file's size and modification time: cheap next to
    Alembic's load, which imports every revision file, but still one stat per revision. So a
    request stats only the version directories themselves, whose mtime changes when a file is
    added, removed or renamed, and the full listing runs at most once per RELIST_SECONDS (an
    edit in place shows within that time), or on every request while a directory's mtime is
    too recent to trust.
    """

    RELIST_SECONDS = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._graph: RevisionGraph | None = None
        self._dirs: tuple | None = None
        self._listed_at = 0.0  # time.time() of the last full listing
        self._read_config: Config | None = None

    def read_config(self, make: Callable[[], Config]) -> Config:
        """The Config the reads of every service holding this cache use, made by ``make`` for
        the first that reads: they share one directory, and a Config costs a few ms to build
        (a fleet of 10,000 targets built 10,000). Its URL is that service's; reads use only
        the directory's settings."""
        with self._lock:
            if self._read_config is None:
                self._read_config = make()
            return self._read_config

    def get(self, config: Config) -> RevisionGraph:
        """The graph for ``config``'s directory, reloaded if any version file changed.

        :raises MigrationsUnavailable: the directory is missing or a script does not load.
        """
        directory, locations = self._where(config)
        dirs = _dir_stamps(locations)
        now = time.time()
        with self._lock:
            if self._still_valid(directory, dirs, now):
                return self._graph
            same_directory = self._graph is not None and self._key[0] == directory
            if not same_directory or _fingerprint(config) != self._key[1]:
                self._graph, fingerprint = _load(config, directory)
                self._key = (directory, fingerprint)
            self._dirs, self._listed_at = dirs, now
            return self._graph

    def _where(self, config: Config) -> tuple[str, tuple[str, ...]]:
        """The script directory and the version locations: read from the ini once per Config
        (the reads share one)."""
        where = config.attributes.get(_WHERE)
        if where is None:
            directory = config.get_main_option("script_location")
            where = config.attributes[_WHERE] = (directory, tuple(version_locations(config)))
        return where

    def _still_valid(self, directory: str, dirs: tuple, now: float) -> bool:
        if self._graph is None or self._key is None or self._key[0] != directory:
            return False
        if dirs != self._dirs or now - self._listed_at >= self.RELIST_SECONDS:
            return False
        # Filesystem mtimes tick coarsely: a directory changed shortly before the last listing
        # may have changed again within the same tick, leaving its mtime as it was.
        settled = self._listed_at - self.RELIST_SECONDS
        return all(mtime is not None and mtime / 1e9 < settled for _, mtime in dirs)


_WHERE = "migrateway.where"  # the key of _where's answer in Config.attributes


def _dir_stamps(locations: tuple[str, ...]) -> tuple:
    stamps = []
    for location in locations:
        try:
            stamps.append((location, os.stat(location).st_mtime_ns))
        except FileNotFoundError:
            stamps.append((location, None))
    return tuple(stamps)


def _fingerprint(config: Config) -> tuple:
    """What changes when a revision file is added, removed, renamed or edited."""
    files = revision_files(config)
    if files is not None:
        return stamps(files)
    entries = []  # a directory Alembic lists itself: every .py file below the locations
    for location in version_locations(config):
        for root, _dirs, names in os.walk(location):
            entries.extend(os.path.join(root, n) for n in names if n.endswith((".py", ".pyc")))
    return stamps(sorted(entries))


def _load(config: Config, directory: str) -> tuple[RevisionGraph, tuple]:
    """The graph and the fingerprint of the files it was read from."""
    if not os.path.isdir(directory):
        raise exceptions.MigrationsUnavailable(
            f"The migrations directory {directory} does not exist; set MIGRATIONS_DIR."
        )
    try:
        with long_lived():
            scanned = scan(config)
            if scanned is not None:
                headers, fingerprint = scanned
                return RevisionGraph(headers, directory, config), fingerprint
            fingerprint = _fingerprint(config)
            script = alembic_script(config)
            scripts = [s for s in script.revision_map._revision_map.values() if s is not None]
            unique = list({id(s): s for s in scripts}.values())  # label keys repeat a revision
            headers = [Header.from_module(s.module, s.path, s.revision) for s in unique]
            return RevisionGraph(headers, directory, config, script=script), fingerprint
    except exceptions.Problem:
        raise
    except Exception as exc:  # a file that does not import, a cycle, a bad ini
        raise migrations_unavailable(exc, config.attributes.get(ROOTS)) from exc
