"""Each revision as a picture shows it: a short id, its roles, its state and its message.

The DOT and Mermaid writers share these, so both formats mark the same things.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.service.graph_facts import GraphFacts

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
    parent: str
    child: str
    dependency: bool  # depends_on, not down_revision: ordered before, not followed


@dataclass(frozen=True)
class Picture:
    """What a writer draws: nodes oldest first, the edges between them, and a caption."""

    nodes: list[Node]
    edges: list[Edge]
    caption: str


def picture(facts: GraphFacts) -> Picture:
    """The picture of ``facts``, ready for a writer."""
    shorts = short_ids([info.revision for info in facts.revisions])
    return Picture(nodes(facts, shorts), edges(facts), caption(facts, shorts))


def nodes(facts: GraphFacts, shorts: dict[str, str]) -> list[Node]:
    """Every revision, oldest first (so DOT and Mermaid sources read from base to head)."""
    current = set(facts.current)
    result = []
    for info in reversed(facts.revisions):
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


def edges(facts: GraphFacts) -> list[Edge]:
    """Each revision's link to the ones it follows and depends on, oldest child first."""
    known = {info.revision for info in facts.revisions}
    result = []
    for info in reversed(facts.revisions):
        for parent in info.down_revisions:
            if parent in known:
                result.append(Edge(parent, info.revision, dependency=False))
        for needed in info.depends_on:
            if needed in known:  # a branch label names no node; the arrow would lead nowhere
                result.append(Edge(needed, info.revision, dependency=True))
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
