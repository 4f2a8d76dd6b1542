"""Shape of the readiness answer: what was checked, and how it went."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

CHECK_STATES = ("ok", "unavailable")


class ReadinessSchema(Schema):
    database = fields.String(
        required=True,
        validate=validate.OneOf(CHECK_STATES),
        metadata={"description": "The database answers."},
    )
    migrations = fields.String(
        required=True,
        validate=validate.OneOf(CHECK_STATES),
        metadata={"description": "The migrations directory loads."},
    )
