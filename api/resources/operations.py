"""GET /operations and /operations/<id>: the log of every upgrade, downgrade and stamp."""

from __future__ import annotations

from flask_restx import Namespace, Resource

from api.exceptions import InvalidRequest, UnknownOperation
from api.openapi import model, query_params
from api.resources import parsing
from api.resources.problems_doc import UNAVAILABLE, documents_problems
from api.schemas.operations import OperationListQuery, OperationPageSchema, OperationSchema
from api.service import service

ns = Namespace("operations", description="The operation log")

page_model = model(ns, OperationPageSchema)
operation_model = model(ns, OperationSchema)

_page, _operation = OperationPageSchema(), OperationSchema()  # made once, as in status.py


@ns.route("")
class OperationList(Resource):
    @ns.doc(params=query_params(OperationListQuery))
    @ns.response(200, "Operations, newest first", page_model)
    @documents_problems(ns, InvalidRequest, *UNAVAILABLE)
    def get(self):
        """List the recorded operations, newest first."""
        args = parsing.query(OperationListQuery())
        items, total = service().operations(**args)
        return _page.dump({"items": items, "total": total, **args})


@ns.route("/<string:operation_id>")
class Operation(Resource):
    @ns.response(200, "The operation", operation_model)
    @documents_problems(ns, UnknownOperation, *UNAVAILABLE)
    def get(self, operation_id: str):
        """Show one recorded operation."""
        return _operation.dump(service().operation(operation_id))
