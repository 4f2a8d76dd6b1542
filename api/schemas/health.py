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


class ImportProblemSchema(Schema):
    """In a not-ready problem: the module env.py or a revision file cannot import."""

    file = fields.String(
        required=True,
        metadata={"description": "The file, relative to the migrations directory or project."},
    )
    line = fields.Integer(allow_none=True, metadata={"description": "The import's line."})
    error = fields.String(
        required=True,
        metadata={"example": "ModuleNotFoundError: No module named 'blog'"},
    )
