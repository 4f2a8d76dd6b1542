"""The newest-first order of a plain revision graph, by the walk of Alembic 1.20's RevisionMap.

Alembic orders ``walk_revisions`` and ``flask db history`` with
``RevisionMap._topological_sort`` (alembic/script/revision.py, Alembic 1.20.1). Building the
RevisionMap it walks is quadratic in the number of revisions, seconds at ten thousand, so a
plain graph (unique ids, no ``depends_on``, every parent present, no cycle) is walked here,
in linear time, by that same sort restated without dependencies. Anything else returns None
and is left to Alembic. tests/test_revision_order.py checks the two agree on generated graphs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from alembic.script.revision import Revision, RevisionError
from alembic.util import to_tuple


class PlainOrder(NamedTuple):
    order: list[str]  # newest first, as walk_revisions yields them
    heads: tuple[str, ...]  # in load order, as RevisionMap.heads
    children: dict[str, tuple[str, ...]]
    parents: dict[str, tuple[str, ...]]

    def is_one_line(self) -> bool:
        """One head, and no revision with two children or two parents."""
        return (
            len(self.heads) == 1
            and all(len(c) <= 1 for c in self.children.values())
            and all(len(p) <= 1 for p in self.parents.values())
        )


def ids(value) -> tuple[str, ...]:
    """A header value as Alembic normalizes it: None, one id, or several."""
    return to_tuple(value, default=())


def plain_order(headers: Iterable) -> PlainOrder | None:
    """The order, heads and edges of a plain graph of ``headers``; None if it is not plain."""
    parents = _parents(headers)
    children = _children(parents) if parents is not None else None
    if children is None or not _acyclic(parents, children):
        return None
    heads = [rev for rev in parents if not children[rev]]  # in load order, as Alembic
    order = _topological_sort(heads, parents)
    if len(order) != len(parents):
        return None
    return PlainOrder(order, tuple(heads), {r: tuple(c) for r, c in children.items()}, parents)


def ancestors(revs: Iterable[str], parents: dict[str, tuple[str, ...]]) -> set[str]:
    """``revs`` and every revision below them."""
    seen = set(revs)
    todo = list(seen)
    while todo:
        for parent in parents[todo.pop()]:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def _parents(headers: Iterable) -> dict[str, tuple[str, ...]] | None:
    """Each revision's down revisions, in load order; None where Alembic's map is needed."""
    parents: dict[str, tuple[str, ...]] = {}
    for h in headers:
        if h.revision in parents or h.depends_on or not _valid_id(h.revision):
            return None
        down = ids(h.down_revision)
        if h.revision in down or len(set(down)) != len(down):
            return None
        parents[h.revision] = down
    return parents


def _valid_id(rev: str) -> bool:
    try:
        Revision.verify_rev_id(rev)
    except RevisionError:
        return False
    return True


def _children(parents: dict[str, tuple[str, ...]]) -> dict[str, list[str]] | None:
    """Each revision's children; None for a missing parent (Alembic's own load says what is
    wrong)."""
    children: dict[str, list[str]] = {rev: [] for rev in parents}
    for rev, down in parents.items():
        for parent in down:
            if parent not in children:
                return None
            children[parent].append(rev)
    return children


def _acyclic(parents: dict[str, tuple[str, ...]], children: dict[str, list[str]]) -> bool:
    """No cycle: every revision is reached from the bases (Kahn's algorithm)."""
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
    return reached == len(parents)


def _topological_sort(heads: list[str], parents: dict[str, tuple[str, ...]]) -> list[str]:
    """Alembic's _topological_sort over every revision from ``heads``. One change: a head's
    ancestors are computed only once there is another head to compare with (a single line of
    history never needs them); Alembic computes them up front."""
    todo = set(parents)
    current_heads = list(heads)
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
    return output


def _head_needing(candidate, idx, current_heads, ancestors_by_idx, parents) -> int | None:
    """The first other head that has ``candidate`` among its ancestors, if any."""
    if len(current_heads) == 1:
        return None
    for other, known in enumerate(ancestors_by_idx):
        if known is None:
            known = ancestors_by_idx[other] = ancestors([current_heads[other]], parents)
        if other != idx and candidate in known:
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
