"""GET /metrics: the Prometheus text format, read with a token like every GET."""

from __future__ import annotations

from flask import Response
from flask_restx import Namespace, Resource

from api import metrics
from api.problems import PROBLEM_MEDIA_TYPE
from api.service import service

ns = Namespace("metrics", path="/", description="Prometheus metrics")


@ns.route("/metrics")
class Metrics(Resource):
    @ns.produces([metrics.CONTENT_TYPE.split(";")[0], PROBLEM_MEDIA_TYPE])
    @ns.response(200, "Operations by kind and status, lock waits, the database's revision")
    def get(self):
        """Show the metrics in the Prometheus text format."""
        return Response(metrics.render(service()), content_type=metrics.CONTENT_TYPE)
