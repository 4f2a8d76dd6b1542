"""The integrity gate: a write whose chain runs a revision whose file changed (or went) since
it was applied runs only when the request names it in ``accept_changed``: a downgrade must not
run code that never matched what was applied without someone saying so."""

from __future__ import annotations

from typing import TYPE_CHECKING

from api import exceptions
from api.service.verify import REFUSED, check_revision

if TYPE_CHECKING:
    from api.service import MigrationService
    from api.service.graph import RevisionGraph


def check(
    svc: MigrationService, graph: RevisionGraph, write, chains: dict[str, list]
) -> list[dict] | None:
    """Refuse ``write`` when its chain (``chains``: bind -> Alembic's steps from where it is)
    runs a changed or missing revision that it does not accept; return what the operation log
    records as accepted (None when nothing was).

    :raises IntegrityCheckFailed:
    """
    if write.kind == "stamp" or write.sql:  # a stamp runs no revision; a dry run changes nothing
        return None
    rows = svc.oplog.applied_rows()
    if not rows:  # nothing recorded (yet): nothing to hold a file against
        return None
    flagged = []
    for bind, steps in chains.items():
        for step in steps:
            rev = step.revision.revision
            row = rows.get((bind, rev))
            if row is None:
                continue
            found = check_revision(graph, bind, rev, row, diff=False)
            if found.status in REFUSED:
                flagged.append(found)
    refused = [f for f in flagged if f.revision not in write.accept_changed]
    if refused:
        raise exceptions.IntegrityCheckFailed(
            f"This {write.kind} to {write.target} runs "
            + "; ".join(f"{f.revision} ({f.status.replace('_', ' ')})" for f in refused)
            + ", whose file is not what was applied. Nothing ran. GET /verify shows the diff; "
            'send "accept_changed": [...] naming them to run them all the same, or POST '
            "/verify/accept to record the files as they are now.",
            revisions=[_named(f) for f in refused],
        )
    return [_named(f) for f in flagged] or None


def _named(found) -> dict:
    return {
        "revision": found.revision,
        "bind": found.bind,
        "status": found.status,
        "recorded_sha256": found.recorded_sha256,
        "current_sha256": found.current_sha256,
    }
