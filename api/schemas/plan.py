"""The shapes of POST /plan: what a change would run, step by step, and what it would destroy."""

from __future__ import annotations

from marshmallow import Schema, fields, post_dump, validate

from api.schemas.fields import plan_id, revision_target, strict_boolean


def plan_id_field():
    """The ``plan_id`` a write carries to acknowledge the losses that plan names."""
    return plan_id(
        metadata={
            "description": "The plan_id of POST /plan for this change: runs it although it "
            "destroys data (409 unacknowledged-data-loss without it); 412 if the database or "
            "the revision files have moved since that plan."
        },
    )


class PlanRequest(Schema):
    class Meta:
        example = {"action": "downgrade", "target": "-1"}

    action = fields.String(
        required=True,
        validate=validate.OneOf(["upgrade", "downgrade"]),
        metadata={"description": "What the change would be."},
    )
    # A plan runs nothing, so a downgrade's may default (to one step back), as an upgrade's
    # does (to head); the downgrade itself still needs its target said.
    target = revision_target(example="-1")

    undo = strict_boolean(
        load_default=True,
        metadata={
            "description": "Also tell which steps cannot be undone (renders each step's "
            "opposite; false skips it)."
        },
    )


class FindingSchema(Schema):
    code = fields.String(metadata={"description": "See the README's table of codes."})
    severity = fields.String(metadata={"enum": ["error", "warning", "info"]})
    revision = fields.String()
    bind = fields.String(metadata={"description": "Several databases: which one."})
    statement = fields.String(allow_none=True)
    schema = fields.String(allow_none=True)
    table = fields.String(allow_none=True)
    column = fields.String(allow_none=True)
    detail = fields.String()
    facts = fields.Dict(
        allow_none=True,
        metadata={
            "description": "Read from the live database now: exists, has_rows, rows_estimate "
            "(exact up to 10000), column_exists, has_values (a non-null value)."
        },
    )
    blocking = fields.Boolean(
        metadata={"description": "Running it would destroy data that exists now."}
    )

    @post_dump
    def _single_database(self, data: dict, **kwargs) -> dict:
        if data.get("bind") in (None, "default"):
            data.pop("bind", None)
        return data


class PlanStepSchema(Schema):
    revision = fields.String()
    message = fields.String(allow_none=True)
    direction = fields.String(metadata={"enum": ["upgrade", "downgrade"]})
    bind = fields.String(allow_none=True)
    sql = fields.String(
        metadata={"description": "This step's SQL alone, from where the database will be."}
    )
    findings = fields.List(fields.Nested(FindingSchema))

    @post_dump
    def _single_database(self, data: dict, **kwargs) -> dict:
        if data.get("bind") is None:
            data.pop("bind", None)
        return data


class PlanSchema(Schema):
    action = fields.String()
    target = fields.String()
    from_ = fields.List(fields.String(), data_key="from")
    to = fields.List(fields.String())
    plan_id = fields.String(
        metadata={
            "description": "Names this plan (the starting revision, each step's SQL, each "
            "revision file's checksum): send it with the write to run it as planned."
        }
    )
    steps = fields.List(fields.Nested(PlanStepSchema))
    findings = fields.List(
        fields.Nested(FindingSchema), metadata={"description": "Every step's findings."}
    )
    blocking = fields.Integer(
        attribute="blocking_count",
        metadata={"description": "How many findings would destroy data that exists now."},
    )


class AcknowledgedSchema(Schema):
    plan_id = fields.String()
    findings = fields.List(
        fields.Nested(FindingSchema),
        metadata={"description": "The losses of data the operation's actor acknowledged."},
    )
