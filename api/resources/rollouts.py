"""POST/GET /rollouts: one change to many targets, in waves; resume and cancel."""

from __future__ import annotations

from flask import current_app, g
from flask_restx import Namespace, Resource

from api import auth
from api.exceptions import (
    Forbidden,
    InvalidRequest,
    InvalidRollout,
    RolloutConflict,
    UnknownRollout,
)
from api.openapi import model, query_params
from api.resources import parsing
from api.resources.problems_doc import UNAVAILABLE, documents_problems
from api.rollouts import control
from api.schemas.rollouts import (
    RolloutListQuery,
    RolloutPageSchema,
    RolloutRequest,
    RolloutSchema,
)

ns = Namespace("rollouts", description="One change to many targets, in waves")
rollout_model = model(ns, RolloutSchema)
_rollout, _page = RolloutSchema(), RolloutPageSchema()


def _accepted(view: control.RolloutView):
    return _rollout.dump(view), 202, {"Location": f"/rollouts/{view.id}"}


@ns.route("")
class RolloutList(Resource):
    @ns.expect(model(ns, RolloutRequest))
    @ns.response(202, "Started: follow Location", rollout_model)
    @documents_problems(ns, InvalidRequest, InvalidRollout, Forbidden, *UNAVAILABLE)
    def post(self):
        """Start a rollout: the first wave is the canary; each wave starts when the one
        before it succeeded (or on_failure is continue)."""
        asked = parsing.body(RolloutRequest())
        auth.require(asked["action"])
        app = current_app._get_current_object()
        return _accepted(control.start(app, asked, g.get("actor", "anonymous")))

    @ns.doc(params=query_params(RolloutListQuery))
    @ns.response(200, "Rollouts, newest first", model(ns, RolloutPageSchema))
    @documents_problems(ns, InvalidRequest, *UNAVAILABLE)
    def get(self):
        """List the rollouts, newest first, with how many targets are in each status."""
        args = parsing.query(RolloutListQuery())
        items, total = control.page(current_app._get_current_object(), **args)
        return _page.dump({"items": items, "total": total, **args})


@ns.route("/<string:rollout_id>")
class Rollout(Resource):
    @ns.response(200, "The rollout, each wave's progress and each target", rollout_model)
    @documents_problems(ns, UnknownRollout, *UNAVAILABLE)
    def get(self, rollout_id: str):
        """Show a rollout: its status, each wave's progress, each target's run."""
        return _rollout.dump(control.read(current_app._get_current_object(), rollout_id))


@ns.route("/<string:rollout_id>/resume")
class RolloutResume(Resource):
    @ns.response(202, "Resumed: follow Location", rollout_model)
    @documents_problems(ns, UnknownRollout, RolloutConflict, Forbidden, *UNAVAILABLE)
    def post(self, rollout_id: str):
        """Go on with a halted, failed, cancelled or interrupted rollout from where it
        stopped; a target that succeeded never runs again."""
        app = current_app._get_current_object()
        auth.require(control.read(app, rollout_id).action)
        return _accepted(control.resume(app, rollout_id))


@ns.route("/<string:rollout_id>/cancel")
class RolloutCancel(Resource):
    @ns.response(200, "Cancelling: the targets under way finish, no other starts", rollout_model)
    @documents_problems(ns, UnknownRollout, RolloutConflict, Forbidden, *UNAVAILABLE)
    def post(self, rollout_id: str):
        """Start no more targets; those under way finish."""
        app = current_app._get_current_object()
        auth.require(control.read(app, rollout_id).action)
        return _rollout.dump(control.cancel(app, rollout_id))
