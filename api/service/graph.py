"""The revision graph of a migrations directory, loaded once and re-validated by file listing."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.script import revision as alembic_revision
from alembic.script.revision import Revision, RevisionError, RevisionMap
from alembic.util import CommandError, to_tuple

from api import exceptions
from api.gc_pause import long_lived
from api.service.revision_headers import Header, revision_files, scan, stamps, version_locations
from api.service.results import RevisionInfo

_CREATE_DATE = re.compile(r"^Create Date:\s*(.+?)\s*$", re.MULTILINE)


def _created_at(doc: str | None) -> datetime | None:
    match = _CREATE_DATE.search(doc or "")
    if not match:
        return None
    try:
        return datetime.fromisoformat(match.group(1))
    except ValueError:
        return None


def _message(doc: str | None) -> str | None:
    # Alembic's Script.doc: the stripped docstring's first paragraph.
    return (doc or "").strip().split("\n\n", 1)[0] or None


def _ids(value) -> tuple[str, ...]:
    """A header value as Alembic normalizes it: None, one id, or several."""
    return to_tuple(value, default=())


class RevisionGraph:
    """The revisions of a migrations directory in newest-first order, ready to serve.

    Built from the files' headers. Where the graph is plain (unique ids, no ``depends_on``,
    every parent present, no cycle) the order, heads and ancestry are computed here in linear
    time, by the same walk Alembic uses; otherwise Alembic's RevisionMap computes them. Either
    way, symbols and prefixes resolve through an Alembic RevisionMap of the headers, built on
    first need, and writes get Alembic's own ScriptDirectory, which imports every file, also
    built on first need.
    """

    def __init__(
        self,
        headers: list[Header],
        directory: str,
        config: Config,
        script: ScriptDirectory | None = None,
    ):
        self._config = config
        # A repeated id: the last file wins, as in Alembic.
        self._headers = {h.revision: h for h in headers}
        self._header_list = headers
        self._revmap: RevisionMap | None = None
        self._revmap_lock = threading.Lock()
        self._script = script
        self._script_lock = threading.Lock()
        self._applied_cache: tuple[tuple[str, ...], frozenset[str]] | None = None
        self._pending_cache: tuple[tuple[str, ...], tuple[str, ...]] | None = None

        walk = None if script is not None else _plain_walk(headers)
        if walk is not None:
            order, self.heads, self._children = walk
            self._parents = {rev: _ids(self._headers[rev].down_revision) for rev in order}
        else:
            revmap = script.revision_map if script is not None else self.revision_map
            order = [rev.revision for rev in revmap.iterate_revisions("heads", "base")]
            self.heads = tuple(revmap.heads)
            self._children = {r: tuple(revmap.get_revision(r).nextrev) for r in order}
            self._parents = None
        self._linear = (
            walk is not None
            and len(self.heads) == 1
            and all(len(c) <= 1 for c in self._children.values())
            and all(len(p) <= 1 for p in self._parents.values())
        )
        # Alembic spreads a branch label to the revisions along its branch: its map says which.
        labelled = any(h.branch_labels for h in headers)
        labels_map = self.revision_map if labelled else None
        self.ordered: list[RevisionInfo] = []
        # Both answers for "applied", made once: a page is then a lookup per revision.
        self._marked: dict[str, tuple[RevisionInfo, RevisionInfo]] = {}
        relative: dict[str, str] = {}
        parents = self._parents
        children = self._children
        for rev in order:
            header = self._headers[rev]
            folder, _, name = header.path.rpartition(os.sep)
            if folder not in relative:
                where = os.path.relpath(folder, directory)
                relative[folder] = "" if where == "." else where + os.sep
            down = parents[rev] if parents is not None else _ids(header.down_revision)
            doc = header.doc
            below = children[rev]
            # Positional, in RevisionInfo's field order: called 20,000 times at N=10000.
            values = (
                rev,
                down,
                tuple(sorted(labels_map.get_revision(rev).branch_labels)) if labelled else (),
                _ids(header.depends_on),
                _message(doc),
                _created_at(doc),
                relative[folder] + name,
                not below,
                not down,
                len(below) > 1,
                len(down) > 1,
            )
            unmarked = RevisionInfo(*values, False)
            self.ordered.append(unmarked)
            self._marked[rev] = (unmarked, RevisionInfo(*values, True))
        self.by_id = {info.revision: info for info in self.ordered}

    @property
    def revision_map(self) -> RevisionMap:
        """Alembic's RevisionMap of the headers (no file imported), built on first use."""
        with self._revmap_lock:
            if self._revmap is None:
                revisions = [
                    Revision(
                        h.revision,
                        h.down_revision,
                        dependencies=to_tuple(h.depends_on, default=()),
                        branch_labels=to_tuple(h.branch_labels, default=()),
                    )
                    for h in self._header_list
                ]
                revmap = RevisionMap(lambda: revisions)
                revmap.heads  # noqa: B018 - builds the map under the lock
                self._revmap = revmap
            return self._revmap

    @property
    def script(self) -> ScriptDirectory:
        """Alembic's ScriptDirectory with every revision file imported, for running them.

        :raises MigrationsUnavailable: a revision file does not import.
        """
        with self._script_lock:
            if self._script is None:
                self._script = _alembic_script(self._config)
            return self._script

    def children(self, rev: str) -> tuple[str, ...]:
        """The revisions whose down_revision names ``rev``."""
        return self._children[rev]

    def applied(self, current: tuple[str, ...]) -> frozenset[str]:
        """Every revision in the history of the database's current heads, dependencies included."""
        cached = self._applied_cache
        if cached and cached[0] == current:
            return cached[1]
        known = [rev for rev in current if rev in self.by_id]
        if self._parents is not None:
            result = frozenset(_ancestors(known, self._parents))
        else:
            revmap = self.revision_map
            nodes = revmap._get_ancestor_nodes(revmap.get_revisions(known)) if known else []
            result = frozenset(node.revision for node in nodes)
        self._applied_cache = (current, result)
        return result

    def marked(self, info: RevisionInfo, applied: frozenset[str]) -> RevisionInfo:
        """``info`` with ``applied`` set for a database whose history is ``applied``."""
        return self._marked[info.revision][info.revision in applied]

    def pending(self, current: tuple[str, ...]) -> tuple[str, ...]:
        """What ``upgrade heads`` would apply from ``current``, in order.

        :raises MultipleHeads, RevisionConflict:
        """
        cached = self._pending_cache
        if cached and cached[0] == current:
            return cached[1]
        if self._parents is not None and set(current) == set(self.heads):
            result: tuple[str, ...] = ()  # a plain graph, all heads applied: nothing to do
        elif self._linear and len(current) <= 1:
            # One line of revisions: what follows the current one, oldest first.
            newer = self.ordered if not current else self.ordered[: self._index(current[0])]
            result = tuple(info.revision for info in reversed(newer))
        else:
            revmap = self.revision_map
            with revision_errors(revmap):
                steps = revmap.iterate_revisions("heads", current, implicit_base=True)
                result = tuple(rev.revision for rev in reversed(list(steps)))
        self._pending_cache = (current, result)
        return result

    def _index(self, rev: str) -> int:
        for i, info in enumerate(self.ordered):
            if info.revision == rev:
                return i
        raise KeyError(rev)

    def resolve(self, ident: str) -> RevisionInfo:
        """One revision by full id, unique prefix or symbol (``head``, ``base``, ``label@head``).

        :raises UnknownRevision, AmbiguousRevision, MultipleHeads:
        """
        if ident in self.by_id:
            return self.by_id[ident]
        revmap = self.revision_map
        with revision_errors(revmap):
            found = revmap.get_revision(ident)
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


def _ancestors(revs, parents: dict[str, tuple[str, ...]]) -> set[str]:
    """``revs`` and every revision below them."""
    seen = set(revs)
    todo = list(seen)
    while todo:
        for parent in parents[todo.pop()]:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def _plain_walk(headers: list[Header]):
    """(newest-first order, heads, children) of a plain graph, or None if it is not plain.

    The order is Alembic's ``walk_revisions``: its topological sort (RevisionMap.
    _topological_sort) restated for graphs without dependencies, where its map-building step,
    quadratic in the number of revisions, is not needed.
    """
    parents: dict[str, tuple[str, ...]] = {}
    for h in headers:
        if h.revision in parents or h.depends_on:
            return None
        try:
            Revision.verify_rev_id(h.revision)
        except RevisionError:
            return None
        down = _ids(h.down_revision)
        if h.revision in down or len(set(down)) != len(down):
            return None
        parents[h.revision] = down
    children: dict[str, list[str]] = {rev: [] for rev in parents}
    for rev, down in parents.items():
        for parent in down:
            if parent not in children:
                return None  # a missing parent: Alembic's own load says what is wrong
            children[parent].append(rev)
    # No cycle: every revision is reached from the bases (Kahn's algorithm).
    waiting = {rev: len(down) for rev, down in parents.items()}
    ready = [rev for rev, n in waiting.items() if n == 0]
    reached = 0
    while ready:
        rev = ready.pop()
        reached += 1
        for child in children[rev]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if reached != len(parents):
        return None

    heads = [rev for rev in parents if not children[rev]]  # in load order, as Alembic
    todo = set(parents)
    current_heads = list(heads)
    # Each head's ancestors, computed only once there is another head to compare with (a
    # single line of history never needs them).
    ancestors_by_idx: list[set[str] | None] = [None] * len(current_heads)
    output: list[str] = []
    idx = 0
    while current_heads:
        candidate = current_heads[idx]
        needing = _head_needing(candidate, idx, current_heads, ancestors_by_idx, parents)
        if needing is not None:
            idx = needing  # another head needs this one: walk that head first
        else:
            idx = _emit(candidate, idx, parents, todo, output, current_heads, ancestors_by_idx)
    if todo:
        return None
    return output, tuple(heads), {rev: tuple(c) for rev, c in children.items()}


def _head_needing(candidate, idx, current_heads, ancestors_by_idx, parents) -> int | None:
    """The first other head that has ``candidate`` among its ancestors, if any."""
    if len(current_heads) == 1:
        return None
    for other, ancestors in enumerate(ancestors_by_idx):
        if ancestors is None:
            ancestors = ancestors_by_idx[other] = _ancestors([current_heads[other]], parents)
        if other != idx and candidate in ancestors:
            return other
    return None


def _emit(candidate, idx, parents, todo, output, current_heads, ancestors_by_idx) -> int:
    """One step of Alembic's _topological_sort: emit ``candidate``, put its parents in its
    place among the heads; returns the index of the head to look at next."""
    if candidate in todo:
        output.append(candidate)
        todo.remove(candidate)
    down = parents[candidate]
    to_add = [r for r in down if r in todo and r not in current_heads]
    if not to_add:
        del current_heads[idx]
        del ancestors_by_idx[idx]
        return max(idx - 1, 0)
    current_heads[idx] = to_add[0]
    if len(down) == 1:  # down one line: the ancestors are the same less the candidate
        if ancestors_by_idx[idx] is not None:
            ancestors_by_idx[idx].discard(candidate)
    else:
        ancestors_by_idx[idx] = None
        current_heads.extend(to_add[1:])
        ancestors_by_idx.extend(None for _ in to_add[1:])
    return idx


@contextmanager
def revision_errors(revisions: RevisionMap) -> Iterator[None]:
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
            candidates = sorted(r for r in revisions._revision_map if r and r.startswith(prefix))
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
            script = _alembic_script(config)
            scripts = [s for s in script.revision_map._revision_map.values() if s is not None]
            unique = list({id(s): s for s in scripts}.values())  # label keys repeat a revision
            headers = [Header.from_module(s.module, s.path, s.revision) for s in unique]
            return RevisionGraph(headers, directory, config, script=script), fingerprint
    except exceptions.Problem:
        raise
    except Exception as exc:  # a file that does not import, a cycle, a bad ini
        raise _unavailable(exc) from exc


def _alembic_script(config: Config) -> ScriptDirectory:
    """Alembic's ScriptDirectory with every revision file imported."""
    try:
        script = ScriptDirectory.from_config(config)
        script.revision_map.heads  # noqa: B018 - imports every file now, not mid-command
        return script
    except Exception as exc:
        raise _unavailable(exc) from exc


def _unavailable(exc: Exception) -> exceptions.MigrationsUnavailable:
    return exceptions.MigrationsUnavailable(
        f"The migrations directory does not load: {type(exc).__name__}: {exc}"
    )
