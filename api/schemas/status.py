"""Shape of the database's migration status."""

from __future__ import annotations

from marshmallow import Schema, fields

from api.schemas.fields import revision_ids


class CurrentSchema(Schema):
    current = revision_ids("The database's revisions; empty when it is unversioned.")
    heads = revision_ids("The head revisions of the migrations directory.")
    up_to_date = fields.Boolean()
    pending = revision_ids("What an upgrade to head would apply, in order.")
