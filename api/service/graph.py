"""The revision graph of a migrations directory: its order, heads and ancestry, ready to serve."""

from __future__ import annotations

import threading

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.script.revision import Revision, RevisionMap

from api import exceptions
from api.service.alembic_env import ROOTS
from api.service.alembic_errors import migrations_unavailable, revision_errors
from api.service.results import RevisionInfo
from api.service.revision_headers import Header
from api.service.revision_infos import revision_infos
from api.service.revision_order import ancestors, ids, plain_order


class RevisionGraph:
    """The revisions of a migrations directory in newest-first order, ready to serve.

    Built from the files' headers. Where the graph is plain (unique ids, no ``depends_on``,
    every parent present, no cycle) the order, heads and ancestry are computed in linear time
    by revision_order, which walks as Alembic does; otherwise Alembic's RevisionMap computes
    them. Either way, symbols and prefixes resolve through an Alembic RevisionMap of the
    headers, built on first need, and writes get Alembic's own ScriptDirectory, which imports
    every file, also built on first need.
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

        plain = None if script is not None else plain_order(headers)
        # _parents is None where the graph is not plain: ancestry then comes from Alembic's map.
        self._parents = plain.parents if plain is not None else None
        if plain is not None:
            order, self.heads, self._children = plain.order, plain.heads, plain.children
        else:
            order = self._order_by_alembic()
        self._linear = plain is not None and plain.is_one_line()
        # Both answers for "applied", made once: a page is then a lookup per revision.
        pairs = revision_infos(self, order, directory)
        self.ordered = [unmarked for unmarked, _ in pairs]
        self._marked = {pair[0].revision: pair for pair in pairs}
        self.by_id = {info.revision: info for info in self.ordered}

    def _order_by_alembic(self) -> list[str]:
        """The order, heads and children from Alembic's RevisionMap (of the imported files
        where there are, else of the headers)."""
        revmap = self._script.revision_map if self._script is not None else self.revision_map
        order = [rev.revision for rev in revmap.iterate_revisions("heads", "base")]
        self.heads = tuple(revmap.heads)
        self._children = {r: tuple(revmap.get_revision(r).nextrev) for r in order}
        return order

    def header(self, rev: str) -> Header:
        """What the file of ``rev`` says."""
        return self._headers[rev]

    def files(self) -> list[str]:
        """The revision files' paths, in the order Alembic loads them."""
        return [h.path for h in self._header_list]

    def down_revisions(self, rev: str) -> tuple[str, ...]:
        """The revisions ``rev`` follows."""
        if self._parents is not None:
            return self._parents[rev]
        return ids(self._headers[rev].down_revision)

    def branch_labels(self) -> dict[str, tuple[str, ...]]:
        """Each labelled revision's branch labels, as Alembic spreads a label along its branch
        (its map says which); empty where no file has a label."""
        if not any(h.branch_labels for h in self._header_list):
            return {}
        revmap = self.revision_map
        return {rev: tuple(sorted(revmap.get_revision(rev).branch_labels)) for rev in self._headers}

    @property
    def revision_map(self) -> RevisionMap:
        """Alembic's RevisionMap of the headers (no file imported), built on first use."""
        with self._revmap_lock:
            if self._revmap is None:
                revisions = [
                    Revision(
                        h.revision,
                        h.down_revision,
                        dependencies=ids(h.depends_on),
                        branch_labels=ids(h.branch_labels),
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
                self._script = alembic_script(self._config)
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
            result = frozenset(ancestors(known, self._parents))
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


def alembic_script(config: Config) -> ScriptDirectory:
    """Alembic's ScriptDirectory with every revision file imported.

    :raises MigrationsUnavailable: a revision file does not import.
    """
    try:
        script = ScriptDirectory.from_config(config)
        script.revision_map.heads  # noqa: B018 - imports every file now, not mid-command
        return script
    except Exception as exc:
        raise migrations_unavailable(exc, config.attributes.get(ROOTS)) from exc
