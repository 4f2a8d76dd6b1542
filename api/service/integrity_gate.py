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


def check_gone(
    svc: MigrationService, graph: RevisionGraph, write, heads: dict[str, tuple[str, ...]]
) -> None:
    """Refuse a downgrade from a revision whose file went since it was applied (``heads``:
    bind -> the database's revisions). Alembic cannot plan from a revision it has no file
    for; with the record of it, the answer says which file is gone instead of calling the
    directory a stranger to the database. Without a record it may be one: left to
    :meth:`RevisionGraph.check_known`.

    :raises IntegrityCheckFailed:
    """
    if write.kind != "downgrade" or write.sql:
        return
    unknown = [
        (bind, rev) for bind, revs in heads.items() for rev in revs if rev not in graph.by_id
    ]
    if not unknown:
        return
    rows = svc.oplog.applied_rows()
    gone = [
        check_revision(graph, bind, rev, rows[bind, rev], diff=False)
        for bind, rev in unknown
        if (bind, rev) in rows
    ]
    if gone:
        names = ", ".join(f.revision for f in gone)
        raise exceptions.IntegrityCheckFailed(
            f"This downgrade to {write.target} starts from {names}, whose file is gone since "
            "it was applied (missing file): its downgrade() is nowhere to run, and "
            "accept_changed cannot run a file that is not there. Nothing ran. Restore the file "
            "from version control (or point MIGRATIONS_DIR at the directory it ran from), or "
            "stamp past it.",
            revisions=[_named(f) for f in gone],
        )


def _named(found) -> dict:
    return {
        "revision": found.revision,
        "bind": found.bind,
        "status": found.status,
        "recorded_sha256": found.recorded_sha256,
        "current_sha256": found.current_sha256,
    }
