"""Shapes of the fleet matrix (GET /targets)."""

from __future__ import annotations

from marshmallow import Schema, fields

from api.schemas.fields import bounded, revision_ids


class LastOperationSchema(Schema):
    id = fields.String()
    kind = fields.String(metadata={"description": "upgrade, downgrade or stamp"})
    status = fields.String()
    finished_at = fields.DateTime(allow_none=True)


class TargetRowSchema(Schema):
    name = fields.String()
    reachable = fields.Boolean(
        metadata={"description": "False when the database did not answer within its timeout."}
    )
    current = revision_ids("The database's revisions; null when it did not answer.")
    up_to_date = fields.Boolean(allow_none=True)
    pending = fields.Integer(
        allow_none=True, metadata={"description": "How many revisions an upgrade would apply."}
    )
    last_operation = fields.Nested(LastOperationSchema, allow_none=True)
    problem = fields.String(
        allow_none=True,
        metadata={
            "description": "The problem type slug when the database answered but its "
            "state cannot be told (revision-conflict, ...)."
        },
    )


class TargetPageSchema(Schema):
    items = fields.List(fields.Nested(TargetRowSchema))
    total = fields.Integer(metadata={"description": "Rows matching the filters."})
    limit = fields.Integer()
    offset = fields.Integer()


class TargetListQuery(Schema):
    up_to_date = fields.Boolean(metadata={"description": "Only targets that are (or are not)."})
    reachable = fields.Boolean(metadata={"description": "Only targets that answered (or not)."})
    limit = bounded(
        fields.Integer, 1, 1000, load_default=50, metadata={"description": "At most this many."}
    )
    offset = bounded(
        fields.Integer, 0, load_default=0, metadata={"description": "Skip this many targets."}
    )
