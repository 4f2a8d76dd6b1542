"""The revision graph of a migrations directory, loaded once and re-validated by file listing."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime

from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.script import revision as alembic_revision
from alembic.util import CommandError

from api import exceptions
from api.service.results import RevisionInfo

_CREATE_DATE = re.compile(r"^Create Date:\s*(.+?)\s*$", re.MULTILINE)


def _created_at(script: Script) -> datetime | None:
    match = _CREATE_DATE.search(script.module.__doc__ or "")
    if not match:
        return None
    try:
        return datetime.fromisoformat(match.group(1))
    except ValueError:
        return None


def _tuple(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


class RevisionGraph:
    """A loaded ScriptDirectory plus the revisions in newest-first order, ready to serve."""

    def __init__(self, script: ScriptDirectory, directory: str):
        self.script = script
        scripts = list(script.walk_revisions())
        self.ordered: list[RevisionInfo] = [self._info(s, directory) for s in scripts]
        self.by_id = {info.revision: info for info in self.ordered}
        # Both answers for "applied", made once: a page is then a lookup per revision.
        self._marked = {
            info.revision: (replace(info, applied=False), replace(info, applied=True))
            for info in self.ordered
        }
        self.heads: tuple[str, ...] = tuple(script.get_heads())
        self._applied_cache: tuple[tuple[str, ...], frozenset[str]] | None = None
        self._pending_cache: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    @staticmethod
    def _info(s: Script, directory: str) -> RevisionInfo:
        return RevisionInfo(
            revision=s.revision,
            down_revisions=_tuple(s.down_revision),
            branch_labels=tuple(sorted(s.branch_labels)),
            depends_on=_tuple(s.dependencies),
            message=s.doc or None,
            created_at=_created_at(s),
            path=os.path.relpath(s.path, directory),
            is_head=s.is_head,
            is_base=s.is_base,
            is_branch_point=s.is_branch_point,
            is_merge_point=s.is_merge_point,
        )

    def applied(self, current: tuple[str, ...]) -> frozenset[str]:
        """Every revision in the history of the database's current heads, dependencies included."""
        cached = self._applied_cache
        if cached and cached[0] == current:
            return cached[1]
        known = [rev for rev in current if rev in self.by_id]
        revmap = self.script.revision_map
        nodes = revmap._get_ancestor_nodes(revmap.get_revisions(known)) if known else []
        result = frozenset(node.revision for node in nodes)
        self._applied_cache = (current, result)
        return result

    def marked(self, info: RevisionInfo, applied: frozenset[str]) -> RevisionInfo:
        """``info`` with ``applied`` set for a database whose history is ``applied``."""
        return self._marked[info.revision][info.revision in applied]

    def pending(self, current: tuple[str, ...]) -> tuple[str, ...]:
        """What ``upgrade heads`` would apply from ``current``, in order.

        Alembic walks the whole graph to find it, even when ``current`` is the heads: the
        answer is kept for the last ``current`` seen, as the graph never changes.

        :raises MultipleHeads, RevisionConflict:
        """
        cached = self._pending_cache
        if cached and cached[0] == current:
            return cached[1]
        with revision_errors(self.script):
            steps = self.script._upgrade_revs("heads", current) if self.heads else []
        result = tuple(step.revision.revision for step in steps)
        self._pending_cache = (current, result)
        return result

    def resolve(self, ident: str) -> RevisionInfo:
        """One revision by full id, unique prefix or symbol (``head``, ``base``, ``label@head``).

        :raises UnknownRevision, AmbiguousRevision, MultipleHeads:
        """
        if ident in self.by_id:
            return self.by_id[ident]
        with revision_errors(self.script):
            found = self.script.get_revision(ident)
        if found is None:  # "base" resolves to no revision
            raise exceptions.UnknownRevision(f"'{ident}' names no revision script", revision=ident)
        return self.by_id[found.revision]

    def check_known(self, current: tuple[str, ...]) -> None:
        """Refuse to plan from a database revision the directory does not contain.

        :raises RevisionConflict:
        """
        unknown = [rev for rev in current if rev not in self.by_id]
        if unknown:
            raise exceptions.RevisionConflict(
                f"The database is at {', '.join(unknown)}, which is not in the migrations "
                "directory. Point MIGRATIONS_DIR at the right directory, or stamp the database.",
                current=list(current),
            )


@contextmanager
def revision_errors(script: ScriptDirectory) -> Iterator[None]:
    """Turn Alembic's revision-resolution errors into the service's domain errors."""
    try:
        yield
    except (CommandError, alembic_revision.RevisionError) as exc:
        cause = exc if isinstance(exc, alembic_revision.RevisionError) else exc.__cause__
        if isinstance(cause, alembic_revision.MultipleHeads):
            raise exceptions.MultipleHeads(
                f"'{cause.argument}' matches several heads; name one of them, "
                "use '<label>@head', or 'heads' for all.",
                heads=sorted(cause.heads),
            ) from None
        if isinstance(cause, alembic_revision.ResolutionError):
            prefix = cause.argument or ""
            candidates = sorted(
                r for r in script.revision_map._revision_map if r and r.startswith(prefix)
            )
            if len(candidates) > 1 and str(cause).startswith("Multiple revisions start"):
                raise exceptions.AmbiguousRevision(
                    f"'{prefix}' is the start of several revisions; give more characters.",
                    revision=prefix,
                    candidates=candidates,
                ) from None
            raise exceptions.UnknownRevision(
                f"No revision, branch label or symbol is named '{prefix}'.", revision=prefix
            ) from None
        raise exceptions.RevisionConflict(str(exc)) from None
    except AssertionError:
        # Alembic asserts, rather than raising, on some relative steps past either end of the
        # graph ("head+1", "label@-1" at the label's root).
        raise exceptions.RevisionConflict(
            "The target steps past the ends of the revision graph."
        ) from None


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

    def get(self, config: Config) -> RevisionGraph:
        """The graph for ``config``'s directory, reloaded if any version file changed.

        :raises MigrationsUnavailable: the directory is missing or a script does not load.
        """
        directory = config.get_main_option("script_location")
        dirs = _dir_stamps(config, directory)
        now = time.time()
        with self._lock:
            if self._still_valid(directory, dirs, now):
                return self._graph
            key = (directory, _fingerprint(config, directory))
            self._dirs, self._listed_at = dirs, now
            if key != self._key or self._graph is None:
                self._graph = _load(config, directory)
                self._key = key
            return self._graph

    def _still_valid(self, directory: str, dirs: tuple, now: float) -> bool:
        if self._graph is None or self._key is None or self._key[0] != directory:
            return False
        if dirs != self._dirs or now - self._listed_at >= self.RELIST_SECONDS:
            return False
        # Filesystem mtimes tick coarsely: a directory changed shortly before the last listing
        # may have changed again within the same tick, leaving its mtime as it was.
        settled = self._listed_at - self.RELIST_SECONDS
        return all(mtime is not None and mtime / 1e9 < settled for _, mtime in dirs)


def _version_dirs(config: Config, directory: str) -> list[str]:
    locations = config.get_main_option("version_locations")
    if locations:
        return [p for p in re.split(r"[\s,]+", locations) if p]
    return [os.path.join(directory, "versions")]


def _dir_stamps(config: Config, directory: str) -> tuple:
    stamps = []
    for location in _version_dirs(config, directory):
        try:
            stamps.append((location, os.stat(location).st_mtime_ns))
        except FileNotFoundError:
            stamps.append((location, None))
    return tuple(stamps)


def _fingerprint(config: Config, directory: str) -> tuple:
    entries = []
    for location in _version_dirs(config, directory):
        try:
            with os.scandir(location) as it:
                for entry in it:
                    if entry.name.endswith(".py"):
                        st = entry.stat()
                        entries.append((entry.path, st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            entries.append((location, None, None))
    entries.sort()
    return tuple(entries)


def _load(config: Config, directory: str) -> RevisionGraph:
    if not os.path.isdir(directory):
        raise exceptions.MigrationsUnavailable(
            f"The migrations directory {directory} does not exist; set MIGRATIONS_DIR."
        )
    try:
        script = ScriptDirectory.from_config(config)
        return RevisionGraph(script, directory)
    except Exception as exc:  # a revision file that does not import, a cycle, a bad ini
        raise exceptions.MigrationsUnavailable(
            f"The migrations directory does not load: {type(exc).__name__}: {exc}"
        ) from exc
