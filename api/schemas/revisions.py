"""Shapes of revision metadata: one revision, a page of them, heads and branch points."""

from __future__ import annotations

from marshmallow import Schema, fields

from api.gc_pause import long_lived
from api.schemas.fields import ScriptDateTime, bounded, revision_ids

MAX_LIMIT = 100_000


class RevisionSchema(Schema):
    revision = fields.String(required=True, metadata={"example": "1f2a3b4c5d6e"})
    down_revisions = revision_ids("The revisions this one follows; two or more for a merge.")
    branch_labels = fields.List(fields.String())
    depends_on = revision_ids("Revisions this one depends on without following them.")
    message = fields.String(allow_none=True)
    created_at = ScriptDateTime(
        allow_none=True,
        metadata={
            "description": "The script's Create Date, ISO 8601; an offset only when the "
            "migrations directory sets a timezone (Alembic writes local time otherwise).",
            "example": "2026-01-02T03:04:05.000006",
        },
    )
    path = fields.String(metadata={"description": "Relative to the migrations directory."})
    is_head = fields.Boolean()
    is_base = fields.Boolean()
    is_branch_point = fields.Boolean()
    is_merge_point = fields.Boolean()
    applied = fields.Boolean(
        metadata={"description": "True when the revision is in the database's current history."}
    )


class RevisionPageSchema(Schema):
    items = fields.List(fields.Nested(RevisionSchema))
    total = fields.Integer(metadata={"description": "Revisions in the whole graph."})
    limit = fields.Integer(allow_none=True)
    offset = fields.Integer()


class RevisionListQuery(Schema):
    limit = bounded(
        fields.Integer,
        1,
        MAX_LIMIT,
        metadata={"description": "At most this many revisions (default: all)."},
    )
    offset = bounded(
        fields.Integer,
        0,
        load_default=0,
        metadata={"description": "Skip this many revisions, newest first."},
    )


class RevisionListSchema(Schema):
    items = fields.List(fields.Nested(RevisionSchema))


class BranchSchema(Schema):
    revision = fields.String()
    message = fields.String(allow_none=True)
    next_revisions = revision_ids("The revisions that branch off here.")


class BranchListSchema(Schema):
    items = fields.List(fields.Nested(BranchSchema))


class _DumpMemo:
    """Each revision object is immutable and lives as long as its graph, so it is dumped once:
    a warm full listing then costs a dictionary lookup per revision, not a marshmallow dump.
    Revisions not yet dumped are dumped together (``many=True`` is twice as fast per item)."""

    LIMIT = 100_000

    def __init__(self) -> None:
        self._schema = RevisionSchema()
        self._memo: dict[int, tuple[object, dict]] = {}

    def dump_all(self, infos: list) -> list[dict]:
        memo = self._memo
        missing = [info for info in infos if self._lookup(info) is None]
        if missing:
            if len(memo) + len(missing) > self.LIMIT:  # old graphs' revisions: let them go
                memo.clear()
                missing = list(infos)  # the hits just went with them
            with long_lived():
                dumps = self._schema.dump(missing, many=True)
            for info, dumped in zip(missing, dumps, strict=True):
                memo[id(info)] = (info, dumped)
        return [memo[id(info)][1] for info in infos]

    def _lookup(self, info) -> dict | None:
        hit = self._memo.get(id(info))
        if hit is not None and hit[0] is info:  # the same object, not a recycled id
            return hit[1]
        return None


_memo = _DumpMemo()
_envelope = RevisionPageSchema(exclude=("items",))


def dump_revision(info) -> dict:
    """RevisionSchema's dump of ``info``, remembered."""
    return _memo.dump_all([info])[0]


def dump_page(page) -> dict:
    """RevisionPageSchema's dump of ``page``, with each revision's dump remembered."""
    return {**_envelope.dump(page), "items": _memo.dump_all(page.items)}
