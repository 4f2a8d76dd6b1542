"""What a write records of the revisions it applies: each file's checksum and content, read
before the run (the code that runs was loaded from them), the digest of the SQL each step
executed (an upgrade's, taken as it ran: api/service/step_digests.py), and the Alembic and
SQLAlchemy versions; rows of reverted revisions go. Computed from the version table before
and after, so a stamp, a downgrade and a chain that failed half-way are told as the database
tells them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import alembic
import sqlalchemy

from api.service import file_digests
from api.service.oplog.applied import RevisionChanges
from api.service.oplog.record import now
from api.service.step_digests import StepDigests

if TYPE_CHECKING:
    from api.service import MigrationService
    from api.service.graph import RevisionGraph

Heads = dict[str, tuple[str, ...]]
_VERSIONS = {"alembic_version": alembic.__version__, "sqlalchemy_version": sqlalchemy.__version__}


class AppliedRecorder:
    """The rows one write records; :meth:`prepare` before the run, :meth:`changes` after."""

    def __init__(self, svc: MigrationService, graph: RevisionGraph, kind: str):
        self._svc, self._graph, self._kind = svc, graph, kind
        self._files: dict[str, bytes | None] = {}
        # Given to the run's StepTimer by an upgrade; a stamp runs no SQL (its rows: null).
        self.sql = StepDigests()

    def prepare(self, steps: list) -> None:
        """Read the files of the revisions ``steps`` will apply, before they run."""
        for step in steps:
            script = getattr(step, "revision", None)
            if script is not None and getattr(step, "is_upgrade", False):
                self._file(script.revision)

    def changes(
        self,
        op_id: str,
        before: Heads,
        after: Heads,
        done: dict[str, list[str]] | None = None,
    ) -> RevisionChanges:
        """The rows to write and remove, from each bind's revisions ``before`` and ``after``
        the run. Where a bind's ``after`` could not be read back (a failure that took the
        database with it), from the steps the log records as ``done`` there instead, so the
        rows say what the operation's record says."""
        changes = RevisionChanges()
        at = now()
        for bind, was in before.items():
            if bind in after:
                old = self._graph.applied(tuple(was))
                new = self._graph.applied(tuple(after[bind]))
                gone, added = sorted(old - new), sorted(new - old)
            elif self._kind == "stamp" or done is None:
                continue  # nothing known: those revisions read unknown_prior, not a guess
            else:
                steps = done.get(bind, [])
                gone, added = ([], steps) if self._kind == "upgrade" else (steps, [])
            changes.reverted += [(bind, rev) for rev in gone]
            for rev in added:
                row = self._row(bind, rev, op_id, at)
                if row is not None:
                    changes.applied.append(row)
        return changes

    def _file(self, rev: str) -> bytes | None:
        if rev not in self._files:
            header = self._graph.header(rev) if rev in self._graph.by_id else None
            self._files[rev] = file_digests.read(header.path if header else None)
        return self._files[rev]

    def _row(self, bind: str, rev: str, op_id: str, at) -> dict | None:
        content = self._file(rev)
        if content is None:  # the file went away meanwhile: nothing true to record
            return None
        digest, dialect = self.sql.get(bind, rev)
        return record(
            bind,
            rev,
            content,
            self._graph.down_revisions(rev),
            kind=self._kind,
            applied_at=at,
            operation_id=op_id,
            sql_digest=digest,
            dialect=dialect,
        )


def record(bind: str, rev: str, content: bytes, down_revisions, **values) -> dict:
    """One row of applied_revisions for ``rev``'s file ``content``."""
    return {
        "bind": bind,
        "revision": rev,
        "sha256": file_digests.content_digest(content),
        "content": file_digests.compressed(content),
        "down_revisions": list(down_revisions),
        "sql_digest": None,
        "dialect": None,
        "accepted_by": None,
        "accepted_at": None,
        **_VERSIONS,
        **values,
    }
