"""Each revision as a picture shows it: a short id, its roles, its state and its message.

The DOT and Mermaid writers share these, so both formats mark the same things.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.service.graph_facts import GraphFacts
from api.service.results import RevisionInfo

CURRENT, APPLIED, PENDING = "current", "applied", "pending"
# What the legend says of each state, in the order it lists them.
STATES = {
    CURRENT: "current: the database is here",
    APPLIED: "applied",
    PENDING: "pending: upgrade heads runs it",
}
# Ids are shortened to a unique prefix of at least this many characters.
SHORT_ID = 8
# A message longer than this is cut: a node is a box, not the revision file.
MAX_MESSAGE = 120


@dataclass(frozen=True)
class Node:
    revision: str
    short: str
    roles: tuple[str, ...]  # head, base, branch point, merge, in the order a reader asks
    labels: tuple[str, ...]
    message: str  # may hold newlines; empty when the revision has none
    state: str
    is_head: bool
    is_merge: bool

    @property
    def title(self) -> str:
        """The first line of the node: its id, its roles and its branch labels."""
        parts = [self.short, *self.roles]
        if self.labels:
            parts.append("label " + ", ".join(self.labels))
        return " · ".join(parts)


@dataclass(frozen=True)
class Edge:
    parent: str | None  # None: a revision older than the picture shows (Picture.older)
    child: str
    dependency: bool  # depends_on, not down_revision: ordered before, not followed


@dataclass(frozen=True)
class Picture:
    """What a writer draws: nodes oldest first, the edges between them, and a caption."""

    nodes: list[Node]
    edges: list[Edge]
    caption: str
    older: int = 0  # revisions left out, older than every node; one node stands for them


def picture(facts: GraphFacts, limit: int | None = None) -> Picture:
    """The picture of ``facts``, or of its ``limit`` newest revisions, ready for a writer."""
    shown = facts.revisions[:limit] if limit else facts.revisions
    # Unique among all the revisions, not only those shown: a short id must name one.
    shorts = short_ids([info.revision for info in facts.revisions])
    return Picture(
        nodes(facts, shown, shorts),
        edges(facts, shown),
        caption(facts, shorts),
        older=len(facts.revisions) - len(shown),
    )


def nodes(facts: GraphFacts, shown: list[RevisionInfo], shorts: dict[str, str]) -> list[Node]:
    """The revisions ``shown``, oldest first (so DOT and Mermaid sources read from base to
    head)."""
    current = set(facts.current)
    result = []
    for info in reversed(shown):
        roles = [
            role
            for role, has in (
                ("head", info.is_head),
                ("base", info.is_base),
                ("branch point", info.is_branch_point),
                ("merge", info.is_merge_point),
            )
            if has
        ]
        if info.revision in current:
            state = CURRENT
        elif info.revision in facts.applied:
            state = APPLIED
        else:
            state = PENDING
        result.append(
            Node(
                revision=info.revision,
                short=shorts[info.revision],
                roles=tuple(roles),
                labels=facts.declared_labels.get(info.revision, ()),
                message=summary(info.message),
                state=state,
                is_head=info.is_head,
                is_merge=info.is_merge_point,
            )
        )
    return result


def edges(facts: GraphFacts, shown: list[RevisionInfo]) -> list[Edge]:
    """Each shown revision's links to the ones it follows and depends on, oldest child first;
    a link to a revision not shown comes from the one node of the older revisions."""
    known = {info.revision for info in facts.revisions}
    visible = {info.revision for info in shown}
    result: list[Edge] = []
    for info in reversed(shown):
        links = [(parent, False) for parent in info.down_revisions]
        links += [(needed, True) for needed in info.depends_on]
        own: list[Edge] = []
        for parent, dependency in links:
            # A depends_on may name a branch label, which is no node: no arrow for it.
            if parent in known:
                edge = Edge(parent if parent in visible else None, info.revision, dependency)
                if edge not in own:  # two parents not shown: one arrow from the older ones
                    own.append(edge)
        result += own
    return result


def caption(facts: GraphFacts, shorts: dict[str, str]) -> str:
    """Where the database is, in one line, for the legend."""
    total, applied = len(facts.revisions), len(facts.applied)
    if not facts.current:
        where = "database at base (nothing applied)"
    else:
        named = [shorts.get(rev, rev) for rev in facts.current]
        where = "database at " + ", ".join(named)
    unknown = facts.unknown_current
    if unknown:
        where += f" ({', '.join(unknown)} not in this migrations directory)"
    return f"{where}: {applied} applied, {total - applied} pending"


def summary(message: str | None) -> str:
    """The message as a node shows it: cut to MAX_MESSAGE characters, line ends kept."""
    text = (message or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 1].rstrip() + "…"
    return text


def short_ids(revisions: list[str]) -> dict[str, str]:
    """Each id cut to the shortest prefix no other id shares, and no shorter than SHORT_ID."""
    ordered = sorted(revisions)
    shared = [0] * len(ordered)  # the longest prefix each id shares with a neighbour
    for i in range(1, len(ordered)):
        n = _common_prefix(ordered[i - 1], ordered[i])
        shared[i - 1] = max(shared[i - 1], n)
        shared[i] = max(shared[i], n)
    return {rev: rev[: max(SHORT_ID, n + 1)] for rev, n in zip(ordered, shared, strict=True)}


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
