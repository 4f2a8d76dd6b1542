"""Shape of the database's migration status."""

from __future__ import annotations

from marshmallow import Schema, fields

from api.schemas.fields import revision_ids


class BindStateSchema(Schema):
    current = revision_ids("This database's revisions; empty when it is unversioned.")
    up_to_date = fields.Boolean()
    pending = revision_ids("What an upgrade to head would apply to it, in order.")


class CurrentSchema(Schema):
    current = revision_ids("The database's revisions; empty when it is unversioned.")
    heads = revision_ids("The head revisions of the migrations directory.")
    up_to_date = fields.Boolean(
        metadata={"description": "At the heads; with several databases, every one of them."}
    )
    pending = revision_ids("What an upgrade to head would apply, in order.")
    binds = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(BindStateSchema),
        metadata={
            "description": "An application with several databases (binds): each one's state "
            "by bind name ('default' is the main one, which the fields above describe). "
            "Absent otherwise."
        },
    )
