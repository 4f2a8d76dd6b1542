"""What the API serves of each revision: its file's header and its place in the graph."""

from __future__ import annotations

import os
import re
from datetime import datetime
from typing import TYPE_CHECKING

from api.service.results import RevisionInfo
from api.service.revision_order import ids

if TYPE_CHECKING:
    from api.service.graph import RevisionGraph

_CREATE_DATE = re.compile(r"^Create Date:\s*(.+?)\s*$", re.MULTILINE)


def revision_infos(
    graph: RevisionGraph, order: list[str], directory: str
) -> list[tuple[RevisionInfo, RevisionInfo]]:
    """Each revision in ``order`` twice: not applied, and applied (both made once, so that a
    page is a lookup per revision)."""
    pairs = []
    for values in _fields(graph, order, directory):
        # Positional, in RevisionInfo's field order: called 20,000 times at N=10000.
        pairs.append((RevisionInfo(*values, False), RevisionInfo(*values, True)))
    return pairs


def _fields(graph: RevisionGraph, order: list[str], directory: str):
    """RevisionInfo's fields but ``applied``, for each revision in ``order``."""
    labels = graph.branch_labels()
    relative: dict[str, str] = {}  # folder -> its path from ``directory``, with a separator
    for rev in order:
        header = graph.header(rev)
        folder, _, name = header.path.rpartition(os.sep)
        if folder not in relative:
            where = os.path.relpath(folder, directory)
            relative[folder] = "" if where == "." else where + os.sep
        down = graph.down_revisions(rev)
        below = graph.children(rev)
        yield (
            rev,
            down,
            labels.get(rev, ()),
            ids(header.depends_on),
            message(header.doc),
            created_at(header.doc),
            relative[folder] + name,
            not below,
            not down,
            len(below) > 1,
            len(down) > 1,
        )


def created_at(doc: str | None) -> datetime | None:
    """The Create Date that Alembic's templates write into the docstring, if it parses."""
    match = _CREATE_DATE.search(doc or "")
    if not match:
        return None
    try:
        return datetime.fromisoformat(match.group(1))
    except ValueError:
        return None


def message(doc: str | None) -> str | None:
    """Alembic's Script.doc: the stripped docstring's first paragraph."""
    return (doc or "").strip().split("\n\n", 1)[0] or None
