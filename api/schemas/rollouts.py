"""Shapes of rollouts: the request, a rollout with its waves and targets, the list."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.rollouts.waves import DEFAULT_WAVES
from api.schemas.fields import bounded, revision_target
from api.schemas.paging import page_of, page_query


class RolloutRequest(Schema):
    class Meta:
        example = {
            "action": "upgrade",
            "target": "head",
            "targets": "*",
            "waves": [1, "10%", "100%"],
            "parallelism": 8,
            "on_failure": "halt",
        }

    action = fields.String(
        required=True,
        validate=validate.OneOf(["upgrade", "downgrade"]),
        metadata={"description": "What each target runs; the token needs this scope."},
    )
    # Each target's revision to go to: head by default for an upgrade; a downgrade must say
    # (a 422 otherwise: a condition Swagger 2.0 cannot state).
    target = revision_target()
    # A union ("*" or names; a count or a share) Swagger 2.0 cannot say: what does not fit is
    # a 422 invalid-rollout (api/rollouts/control.py), not a 400 the spec would not explain.
    targets = fields.Raw(
        load_default="*",
        allow_none=True,
        metadata={
            "description": 'Target names, in the order to run them, or "*": every target.',
            "example": "*",
        },
    )
    waves = fields.List(
        fields.Raw(allow_none=True),
        load_default=lambda: list(DEFAULT_WAVES),
        validate=validate.Length(min=1, max=100),
        metadata={
            "description": "How many targets have been reached by the end of each wave: a count "
            'or a share ("10%"); the last must reach all. The first wave is the canary; each '
            "starts when the one before it succeeded.",
            "example": [1, "10%", "100%"],
        },
    )
    parallelism = bounded(
        fields.Integer,
        1,
        64,
        load_default=8,
        metadata={"description": "At most this many targets run at once."},
    )
    on_failure = fields.String(
        load_default="halt",
        validate=validate.OneOf(["halt", "continue"]),
        metadata={"description": "halt: no further wave starts after a failure; continue."},
    )


class RolloutTargetSchema(Schema):
    name = fields.String()
    wave = fields.Integer()
    status = fields.String(
        metadata={"enum": ["pending", "running", "succeeded", "failed", "interrupted"]}
    )
    attempt = fields.Integer(metadata={"description": "How many times it was started."})
    operation_id = fields.String(
        allow_none=True, metadata={"description": "Its operation in the target's log."}
    )
    error = fields.String(allow_none=True)
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)


class CountsSchema(Schema):
    pending = fields.Integer()
    running = fields.Integer()
    succeeded = fields.Integer()
    failed = fields.Integer()
    interrupted = fields.Integer()


class WaveSchema(CountsSchema):
    wave = fields.Integer(metadata={"description": "1 is the canary."})
    size = fields.Integer()
    status = fields.String(metadata={"enum": ["pending", "running", "succeeded", "failed"]})


class RolloutSummarySchema(Schema):
    id = fields.String()
    action = fields.String()
    target = fields.String()
    actor = fields.String()
    status = fields.String(
        metadata={
            "enum": ["running", "interrupted", "halted", "succeeded", "failed", "cancelled"],
            "description": "interrupted: the process driving it stopped; resume it.",
        }
    )
    parallelism = fields.Integer()
    on_failure = fields.String()
    cancel_requested = fields.Boolean()
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    counts = fields.Nested(CountsSchema, metadata={"description": "Targets in each status."})


class RolloutSchema(RolloutSummarySchema):
    waves = fields.List(fields.Nested(WaveSchema))
    targets = fields.List(fields.Nested(RolloutTargetSchema))


RolloutPageSchema = page_of(RolloutSummarySchema, "RolloutPageSchema")
RolloutListQuery = page_query("rollouts", "RolloutListQuery")
