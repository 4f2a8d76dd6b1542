"""GET /webhooks/deliveries: each webhook sent (or being sent) and how it went."""

from __future__ import annotations

from flask_restx import Namespace, Resource

from api.exceptions import InvalidRequest
from api.openapi import model, query_params
from api.resources import parsing
from api.resources.problems_doc import UNAVAILABLE, documents_problems
from api.schemas.webhooks import DeliveryListQuery, DeliveryPageSchema
from api.service import service

ns = Namespace("webhooks", description="Webhooks sent when an operation ends")

page_model = model(ns, DeliveryPageSchema)

_page = DeliveryPageSchema()


@ns.route("/deliveries")
class DeliveryList(Resource):
    @ns.doc(params=query_params(DeliveryListQuery))
    @ns.response(200, "Deliveries, newest first", page_model)
    @documents_problems(ns, InvalidRequest, *UNAVAILABLE)
    def get(self):
        """List the webhook deliveries, newest first."""
        args = parsing.query(DeliveryListQuery())
        items, total = service().webhook_deliveries(**args)
        return _page.dump({"items": items, "total": total, **args})
