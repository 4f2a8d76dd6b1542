"""Shapes of the webhook deliveries."""

from __future__ import annotations

from marshmallow import Schema, fields

from api.schemas.paging import page_of, page_query
from api.webhooks.settings import EVENTS


class DeliverySchema(Schema):
    # A line per field of api/service/oplog/deliveries.py's Delivery that the API shows: not
    # the body (GET /operations/<id> shows the operation), never a secret (none is kept).
    id = fields.String(metadata={"description": "The body's delivery_id, in every attempt."})
    operation_id = fields.String()
    event = fields.String(metadata={"enum": list(EVENTS)})
    url = fields.String(metadata={"description": "The receiver, as MIGRATEWAY_WEBHOOKS names it."})
    status = fields.String(
        metadata={
            "enum": ["pending", "delivered", "failed"],
            "description": "pending: being sent or retried; failed: no 2xx answer within "
            "WEBHOOK_RETRY_SECONDS of the first attempt.",
        }
    )
    attempts = fields.Integer()
    status_code = fields.Integer(
        allow_none=True, metadata={"description": "The last attempt's HTTP status; null: none."}
    )
    error = fields.String(
        allow_none=True, metadata={"description": "What went wrong in the last attempt."}
    )
    created_at = fields.DateTime()
    next_attempt_at = fields.DateTime(
        allow_none=True, metadata={"description": "When a pending delivery is tried next."}
    )
    delivered_at = fields.DateTime(allow_none=True)


DeliveryPageSchema = page_of(DeliverySchema, "DeliveryPageSchema")
DeliveryListQuery = page_query("deliveries", "DeliveryListQuery")
