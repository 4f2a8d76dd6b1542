"""GET /health: the process answers."""

from __future__ import annotations

from flask_restx import Namespace, Resource

ns = Namespace("health", path="/", description="Liveness")


@ns.route("/health")
class Health(Resource):
    def get(self):
        """Answer 200 while the process serves requests."""
        return {"status": "ok"}
