"""The revisions each database has applied, as they were when applied: checksum, content,
tool versions. Written with the operation that applied them (see ``RevisionChanges``), in
the same transaction as its record, so the log never tells half of it."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from api.service.oplog.record import Json, Operation, UtcDateTime
from api.service.oplog.store import LogStore

# On the log's own MetaData: created with the operations table, out of the users' sight.
applied_revisions = sa.Table(
    "applied_revisions",
    Operation.metadata,
    sa.Column("bind", sa.String(64), primary_key=True),
    sa.Column("revision", sa.String(64), primary_key=True),
    # Of the file with line endings and a BOM normalised (api/service/file_digests.py).
    sa.Column("sha256", sa.String(64), nullable=False),
    # The file itself, normalised and zlib-compressed: what /verify diffs against.
    sa.Column("content", sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")),
    # The revisions it follows, so that /verify walks down past a file that is gone.
    sa.Column("down_revisions", Json),
    # SHA-256 of the SQL the revision's step executed, and on which dialect (an upgrade's;
    # null for a stamp): api/service/step_digests.py.
    sa.Column("sql_digest", sa.String(64)),
    sa.Column("dialect", sa.String(32)),
    sa.Column("alembic_version", sa.String(32)),
    sa.Column("sqlalchemy_version", sa.String(32)),
    # "upgrade" or "stamp": how it came to be applied.
    sa.Column("kind", sa.String(16)),
    # None: applied before its record existed (accepted later, see POST /verify/accept).
    sa.Column("applied_at", UtcDateTime),
    sa.Column("operation_id", sa.String(36)),
    sa.Column("accepted_by", sa.String(128)),
    sa.Column("accepted_at", UtcDateTime),
)
_c = applied_revisions.c


@dataclass
class RevisionChanges:
    """What one operation changed in the applied revisions: rows (re)written, rows of
    reverted revisions removed."""

    applied: list[dict] = field(default_factory=list)
    reverted: list[tuple[str, str]] = field(default_factory=list)  # (bind, revision)

    def __bool__(self) -> bool:
        return bool(self.applied or self.reverted)

    def write(self, conn: sa.Connection) -> None:
        """Apply the changes on ``conn`` (the caller commits)."""
        gone: dict[str, list[str]] = {}
        for bind, revision in self.reverted + [(r["bind"], r["revision"]) for r in self.applied]:
            gone.setdefault(bind, []).append(revision)
        for bind, revisions in gone.items():
            conn.execute(
                applied_revisions.delete().where(_c.bind == bind, _c.revision.in_(revisions))
            )
        if self.applied:
            conn.execute(applied_revisions.insert(), self.applied)


class AppliedLog(LogStore):
    """Reads of the applied revisions' records (written by ``OperationLog.finish``)."""

    def applied_rows(self) -> dict[tuple[str, str], sa.RowMapping]:
        """Every record, by (bind, revision); empty before the log's first write."""
        if not self._exists():
            return {}
        with self._connect() as conn:
            rows = conn.execute(applied_revisions.select()).mappings().all()
        return {(row["bind"], row["revision"]): row for row in rows}
