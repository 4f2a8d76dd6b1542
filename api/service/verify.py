"""GET /verify's revision statuses: every revision the database has applied, its file now
against the file as it was applied (checksum, and a diff where they differ)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from api.service import file_digests

if TYPE_CHECKING:
    from api.service.graph import RevisionGraph

OK, FILE_CHANGED, MISSING_FILE = "ok", "file_changed", "missing_file"
UNKNOWN_PRIOR = "unknown_prior"  # applied before its record was kept
# Statuses that stop a write whose chain runs the revision (api/service/integrity_gate.py).
REFUSED = frozenset({FILE_CHANGED, MISSING_FILE})
# A diff longer than this is cut: the checksums already say the file changed.
MAX_DIFF_LINES = 2000


@dataclass(frozen=True)
class RevisionCheck:
    """One applied revision: how its file compares with what was applied."""

    revision: str
    bind: str
    status: str
    applied_at: datetime | None = None
    operation_id: str | None = None
    recorded_sha256: str | None = None
    current_sha256: str | None = None
    accepted_by: str | None = None
    accepted_at: datetime | None = None
    sql_digest: str | None = None
    dialect: str | None = None
    diff: str | None = None
    path: str | None = None


def check_revision(
    graph: RevisionGraph, bind: str, rev: str, row: Mapping | None, diff: bool = True
) -> RevisionCheck:
    """``rev``'s status on ``bind``, from its record ``row`` (None: applied before records
    were kept) and its file now."""
    path = graph.header(rev).path if rev in graph.by_id else None
    content = file_digests.read(path)
    current = file_digests.content_digest(content) if content is not None else None
    recorded = row["sha256"] if row is not None else None
    if content is None:
        status = MISSING_FILE
    elif row is None:
        status = UNKNOWN_PRIOR
    else:
        status = OK if recorded == current else FILE_CHANGED
    shown = None
    if status == FILE_CHANGED and diff:
        shown = _diff(rev, file_digests.decompressed(row["content"]), content, path)
    return RevisionCheck(
        revision=rev,
        bind=bind,
        status=status,
        applied_at=row["applied_at"] if row is not None else None,
        operation_id=row["operation_id"] if row is not None else None,
        recorded_sha256=recorded,
        current_sha256=current,
        accepted_by=row["accepted_by"] if row is not None else None,
        accepted_at=row["accepted_at"] if row is not None else None,
        sql_digest=row["sql_digest"] if row is not None else None,
        dialect=row["dialect"] if row is not None else None,
        diff=shown,
        path=path,
    )


def applied_revisions(
    graph: RevisionGraph, heads: Mapping[str, tuple[str, ...]], rows: Mapping
) -> list[tuple[str, str]]:
    """(bind, revision) of every revision each bind has applied, newest first: the version
    table walked down the graph, and past a revision whose file is gone through what its
    record says it followed."""
    result = []
    for bind, current in heads.items():
        applied = set(graph.applied(tuple(current)))
        gone: list[str] = []
        stack = [rev for rev in current if rev not in graph.by_id]
        while stack:
            rev = stack.pop()
            if rev in gone or rev in applied:
                continue
            gone.append(rev)
            row = rows.get((bind, rev))
            for parent in (row["down_revisions"] or []) if row is not None else []:
                if parent in graph.by_id:
                    applied |= graph.applied((parent,))
                else:
                    stack.append(parent)
        result += [(bind, rev) for rev in gone]
        result += [(bind, info.revision) for info in graph.ordered if info.revision in applied]
    return result


def _diff(rev: str, applied: bytes | None, now: bytes, path: str | None) -> str:
    """A unified diff from the file as applied to the file now (both normalised)."""
    before = (applied or b"").decode("utf-8", "replace").splitlines(keepends=True)
    after = file_digests.normalised(now).decode("utf-8", "replace").splitlines(keepends=True)
    name = path.rsplit("/", 1)[-1] if path else rev
    lines = list(difflib.unified_diff(before, after, f"{name} (as applied)", f"{name} (now)", n=3))
    if len(lines) > MAX_DIFF_LINES:
        cut = len(lines) - MAX_DIFF_LINES
        lines = lines[:MAX_DIFF_LINES] + [f"... {cut} more lines\n"]
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
