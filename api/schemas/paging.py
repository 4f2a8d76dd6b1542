"""The one shape of a page of a list (GET /operations, GET /webhooks/deliveries) and of the
query that asks for it; each list names its own classes, so the spec keeps its models."""

from __future__ import annotations

from marshmallow import Schema, fields

from api.schemas.fields import bounded


def page_of(item: type[Schema], name: str) -> type[Schema]:
    """``{items, total, limit, offset}`` of ``item``, as a schema class called ``name``."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item)),
            "total": fields.Integer(),
            "limit": fields.Integer(),
            "offset": fields.Integer(),
        },
        name=name,
    )


def page_query(things: str, name: str) -> type[Schema]:
    """``limit`` (1 to 1000, default 50) and ``offset`` of a list of ``things``, newest first."""
    return Schema.from_dict(
        {
            "limit": bounded(
                fields.Integer,
                1,
                1000,
                load_default=50,
                metadata={"description": "At most this many."},
            ),
            "offset": bounded(
                fields.Integer,
                0,
                load_default=0,
                metadata={"description": f"Skip this many {things}, newest first."},
            ),
        },
        name=name,
    )
