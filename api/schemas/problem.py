"""The problem+json body (RFC 9457), documented once; api.problems produces it."""

from __future__ import annotations

from marshmallow import Schema, fields


class ProblemSchema(Schema):
    type = fields.String(
        metadata={
            "description": "urn:migrateway:problem:<slug>; each status's description lists "
            "its slugs, and its example shows the first."
        }
    )
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    instance = fields.String(allow_none=True)

    class Meta:
        # Problems add fields that help: candidates, heads, current, failed_revision...
        unknown = "include"
