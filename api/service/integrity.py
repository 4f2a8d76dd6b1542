"""Integrity, as the service offers it: GET /verify (applied revisions against their files,
and drift), POST /verify/accept (record the files as they are now, like Flyway's repair)."""

from __future__ import annotations

from api import exceptions
from api.service import oplog as log
from api.service.applied_record import record
from api.service.binds import DEFAULT
from api.service.context import CallContext
from api.service.oplog.applied import RevisionChanges
from api.service.oplog.record import now
from api.service.results import StepResult
from api.service.verify import (
    MISSING_FILE,
    REFUSED,
    RevisionCheck,
    applied_revisions,
    check_revision,
)
from api.service.write_lock import locked


class Integrity:
    """The integrity reads and the acceptance; mixed into MigrationService."""

    def verify(self) -> dict:
        """Every applied revision's status, the drift, and whether all of it is ok
        (``unknown_prior`` is listed but not held against it).

        :raises DatabaseUnavailable, MigrationsUnavailable:
        """
        revisions = self._checks()
        drift = self.drift()
        ok = all(r.status not in REFUSED for r in revisions) and all(
            part["ok"] for part in drift.values() if part.get("checked")
        )
        return {"ok": ok, "revisions": revisions, "drift": drift}

    def verify_counts(self) -> dict[str, int]:
        """How many applied revisions have each status (for /metrics)."""
        counts: dict[str, int] = {}
        for check in self._checks(diff=False):
            counts[check.status] = counts.get(check.status, 0) + 1
        return counts

    def accept(self, revisions: list[str], ctx: CallContext | None = None) -> dict:
        """Record the applied ``revisions``' files as they are now, accepted by the caller;
        recorded in the operation log as an ``accept``.

        :raises UnknownRevision, AmbiguousRevision, RevisionConflict, Locked,
            DatabaseUnavailable:
        """
        ctx = ctx or CallContext()
        graph = self.graph(self.config())
        with locked(self, ctx) as (lock_wait_ms, _held):
            heads = self.bind_heads()
            rows = self.oplog.applied_rows()
            applied = applied_revisions(graph, heads, rows)
            wanted = dict.fromkeys(revisions)
            named = [pair for rev in wanted for pair in _applied(graph, rev, applied)]
            checks = [check_revision(graph, b, r, rows.get((b, r)), diff=False) for b, r in named]
            gone = [c.revision for c in checks if c.status == MISSING_FILE]
            if gone:
                raise exceptions.RevisionConflict(
                    f"The file of {', '.join(gone)} is gone: there is nothing to accept. "
                    "Restore it from version control.",
                    revisions=gone,
                )
            op = self.oplog.start(
                kind="accept",
                actor=ctx.actor,
                target=",".join(c.revision for c in checks)[:128],
                sql=False,
                from_=heads[DEFAULT],
                client_address=ctx.client_address,
                idempotency_key=None,
                request_hash=None,
                lock_wait_ms=lock_wait_ms,
                steps_total=len(checks),
            )
            at = now()
            accepted = [
                _accepted(graph, c, rows.get((c.bind, c.revision)), ctx, at) for c in checks
            ]
            self.oplog.finish(
                op.id,
                status=log.SUCCEEDED,
                to=heads[DEFAULT],
                steps=[StepResult(c.revision, _message(graph, c.revision), 0.0) for c in checks],
                revisions=RevisionChanges(applied=accepted),
            )
        after = self.oplog.applied_rows()
        return {
            "operation_id": op.id,
            "revisions": [
                check_revision(graph, c.bind, c.revision, after.get((c.bind, c.revision)))
                for c in checks
            ],
        }

    def _checks(self, diff: bool = True) -> list[RevisionCheck]:
        graph = self.graph()
        rows = self.oplog.applied_rows()
        return [
            check_revision(graph, bind, rev, rows.get((bind, rev)), diff=diff)
            for bind, rev in applied_revisions(graph, self.bind_heads(), rows)
        ]


def _applied(graph, ident: str, applied: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (bind, revision) pairs that ``ident`` names among the applied revisions (one per
    bind it ran on)."""
    rev = graph.resolve(ident).revision if ident not in {r for _, r in applied} else ident
    found = [(bind, applied_rev) for bind, applied_rev in applied if applied_rev == rev]
    if not found:
        raise exceptions.RevisionConflict(
            f"{rev} is not applied to the database: only an applied revision can be accepted.",
            revision=rev,
        )
    return found


def _accepted(graph, check: RevisionCheck, row, ctx: CallContext, at) -> dict:
    """The record of ``check``'s file as it is now, accepted by the caller (when and by which
    operation it was applied, and the SQL it ran, stay as recorded; unknown for one applied
    before records)."""
    with open(check.path, "rb") as handle:
        content = handle.read()
    return record(
        check.bind,
        check.revision,
        content,
        graph.down_revisions(check.revision),
        kind=row["kind"] if row is not None else None,
        applied_at=row["applied_at"] if row is not None else None,
        operation_id=row["operation_id"] if row is not None else None,
        sql_digest=row["sql_digest"] if row is not None else None,
        dialect=row["dialect"] if row is not None else None,
        accepted_by=ctx.actor,
        accepted_at=at,
    )


def _message(graph, rev: str) -> str | None:
    return graph.by_id[rev].message if rev in graph.by_id else None
