"""What a picture of the revision graph draws: the revisions and where the database is on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from api.service.results import RevisionInfo
from api.service.revision_order import ids

if TYPE_CHECKING:
    from api.service import MigrationService


@dataclass(frozen=True)
class GraphFacts:
    """The revision graph as plain data, with the database's place on it."""

    # Newest first, as GET /revisions lists them (each one's ``applied`` is not set here).
    revisions: list[RevisionInfo]
    # The revisions the version table holds; some may be missing from the directory.
    current: tuple[str, ...]
    # Every revision in the history of ``current``; the others are what ``upgrade heads`` runs.
    applied: frozenset[str]
    # The branch labels each revision's file declares (Alembic spreads a label along its
    # branch, so RevisionInfo.branch_labels repeats it on every revision of the branch).
    declared_labels: dict[str, tuple[str, ...]]

    @property
    def unknown_current(self) -> tuple[str, ...]:
        """The database's revisions the migrations directory does not contain."""
        known = {info.revision for info in self.revisions}
        return tuple(rev for rev in self.current if rev not in known)


def graph_facts(service: MigrationService) -> GraphFacts:
    """The graph and the default database's place on it; reads no revision file.

    :raises DatabaseUnavailable, MigrationsUnavailable:
    """
    graph = service.graph()
    current = service.database_heads()
    labels = {
        info.revision: ids(graph.header(info.revision).branch_labels) for info in graph.ordered
    }
    return GraphFacts(graph.ordered, current, graph.applied(current), labels)
