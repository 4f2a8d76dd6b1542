"""Request and response shapes of upgrade, downgrade and stamp."""

from __future__ import annotations

from marshmallow import Schema, fields

from api.schemas.fields import revision_ids, revision_target, strict_boolean


class UpgradeRequest(Schema):
    target = revision_target(load_default="head")
    sql = strict_boolean(
        load_default=False,
        metadata={
            "description": "Return the SQL from the database's revision to the target; run nothing."
        },
    )


class DowngradeRequest(Schema):
    target = revision_target(required=True, example="-1")
    sql = strict_boolean(
        load_default=False,
        metadata={
            "description": "Return the SQL from the database's revision to the target; run nothing."
        },
    )


class StampRequest(Schema):
    target = revision_target(required=True)
    purge = strict_boolean(
        load_default=False,
        metadata={"description": "Empty the version table first (for a table in a bad state)."},
    )


class StepSchema(Schema):
    revision = fields.String()
    message = fields.String(allow_none=True)
    duration_ms = fields.Float()


class _RunSchema(Schema):
    # "from" is a Python keyword; the JSON keeps Alembic's word.
    from_ = fields.List(
        fields.String(),
        data_key="from",
        metadata={"description": "The database's revisions before the call."},
    )
    to = revision_ids("The database's revisions after the call, read back.")
    duration_ms = fields.Float()
    sql = fields.String(
        allow_none=True, metadata={"description": "With sql=true: the SQL that would run."}
    )


class UpgradeResult(_RunSchema):
    applied = fields.List(fields.Nested(StepSchema), attribute="steps")


class DowngradeResult(_RunSchema):
    reverted = fields.List(fields.Nested(StepSchema), attribute="steps")


class StampResult(_RunSchema):
    pass
