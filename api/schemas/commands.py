"""Request and response shapes of upgrade, downgrade and stamp."""

from __future__ import annotations

from marshmallow import Schema, fields, post_dump, validate

from api.config import MAX_DDL_LOCK_RETRIES, MAX_DDL_LOCK_TIMEOUT
from api.schemas.fields import (
    bounded,
    revision_id,
    revision_ids,
    revision_target,
    strict_boolean,
)
from api.schemas.plan import plan_id_field
from api.schemas.verify import accept_changed_field

MAX_LOCK_TIMEOUT = 60.0


class _WriteRequest(Schema):
    lock_timeout = bounded(
        fields.Float,
        0,
        MAX_LOCK_TIMEOUT,
        load_default=5.0,
        metadata={"description": "Seconds to wait for another migration to finish (then 409)."},
    )
    expected_current = fields.List(
        revision_id(),
        validate=validate.Length(max=32),
        metadata={
            "description": "The revision ids you believe the database is at, as GET /current "
            "lists them ([] for none); 412 if it has moved. Symbols such as 'head' are refused "
            "(400). Same as If-Match with GET /current's ETag."
        },
    )


class _DdlRequest(_WriteRequest):
    """A write that runs revisions: how long their statements wait for a table lock."""

    # A millisecond at least (PostgreSQL's lock_timeout counts in them): an inclusive bound, which
    # Swagger 2.0 shows as it is (min_inclusive=False was not in the spec: fuzzing sent 0).
    ddl_lock_timeout = bounded(
        fields.Float,
        0.001,
        MAX_DDL_LOCK_TIMEOUT,
        metadata={
            "description": "Seconds a revision's statement waits for a table lock before it "
            "gives up, so that it does not queue every reader of the table behind it "
            "(PostgreSQL lock_timeout; MariaDB/MySQL lock_wait_timeout, whole seconds; "
            "SQLite: ignored). Default: DDL_LOCK_TIMEOUT, else no limit."
        },
    )
    ddl_lock_retries = bounded(
        fields.Integer,
        0,
        MAX_DDL_LOCK_RETRIES,
        strict=True,  # 1.5 is refused, not cut to 1
        metadata={
            "description": "How many times a revision that gave up waiting for a lock is tried "
            "again (after 0.5 s, doubling, with jitter), when nothing of it stayed in the "
            "database. Default: DDL_LOCK_RETRIES (3)."
        },
    )


# Each request's Meta.example is what Swagger UI pre-fills for "Try it out" (api.openapi puts
# it in the spec): a body that works as shown. Without one, Swagger UI made a body up field by
# field: expected_current ["head"] (412 at head) and a stamp "resolves": "string" (412).
class UpgradeRequest(_DdlRequest):
    class Meta:
        example = {"target": "head", "sql": False, "lock_timeout": 5}

    plan_id = plan_id_field()
    accept_changed = accept_changed_field()
    target = revision_target(load_default="head")
    sql = strict_boolean(
        load_default=False,
        metadata={
            "description": "Return the SQL from the database's revision to the target; run nothing."
        },
    )


class DowngradeRequest(_DdlRequest):
    class Meta:
        example = {"target": "-1", "sql": False, "lock_timeout": 5}

    plan_id = plan_id_field()
    accept_changed = accept_changed_field()
    target = revision_target(required=True, example="-1")
    sql = strict_boolean(
        load_default=False,
        metadata={
            "description": "Return the SQL from the database's revision to the target; run nothing."
        },
    )


class StampRequest(_WriteRequest):
    class Meta:
        example = {"target": "head", "purge": False, "lock_timeout": 5}

    target = revision_target(required=True)
    purge = strict_boolean(
        load_default=False,
        metadata={"description": "Empty the version table first (for a table in a bad state)."},
    )
    resolves = fields.String(
        validate=validate.Length(min=1, max=36),
        metadata={
            "description": "The id of the operation this stamp acknowledges, required while "
            "one awaits recovery (409 recovery-required names it)."
        },
    )


MAX_KEY_LENGTH = 255


class WriteHeaders(Schema):
    """The request headers of POST /upgrade, /downgrade and /stamp, checked and documented."""

    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        validate=[
            validate.Length(min=1, max=MAX_KEY_LENGTH),
            validate.Regexp(r"^[\x20-\x7e]+$", error="Printable ASCII characters only."),
        ],
        metadata={"description": "A retry with the same key and body returns the first answer."},
    )
    if_match = fields.String(
        data_key="If-Match",
        # One strong ETag (as GET /current gives), "*" or nothing; Werkzeug parses it then.
        validate=validate.Regexp(
            r'^\s*(|\*|"[^",]+")\s*$',
            error='One strong ETag from GET /current, e.g. If-Match: "ab12cd34ef56".',
        ),
        metadata={"description": "The ETag of GET /current; 412 if the database has moved."},
    )
    prefer = fields.String(
        data_key="Prefer",
        metadata={
            "description": "respond-async: answer 202 with `Location: /operations/{id}` at once "
            "(other preferences are ignored, as RFC 7240 asks)."
        },
    )


class StepSchema(Schema):
    revision = fields.String()
    message = fields.String(allow_none=True)
    duration_ms = fields.Float()


class RetrySchema(Schema):
    """A revision that timed out waiting for a lock, tried again."""

    revision = fields.String(metadata={"description": "The revision that timed out."})
    attempt = fields.Integer(metadata={"description": "The attempt that timed out (1: the first)."})
    waited_ms = fields.Float(
        metadata={"description": "How long its statement waited for the lock before it gave up."}
    )
    backoff_ms = fields.Float(metadata={"description": "The pause before the next attempt."})
    error = fields.String(metadata={"description": "The database's error."})


def retries():
    return fields.List(
        fields.Nested(RetrySchema),
        metadata={
            "description": "Each time a revision timed out waiting for a lock and was tried "
            "again (see ddl_lock_timeout); [] when none did."
        },
    )


class BindRunSchema(Schema):
    """One bind's part of a write on several databases."""

    from_ = fields.List(
        fields.String(),
        data_key="from",
        attribute="from",
        metadata={"description": "This database's revisions before the call."},
    )
    to = fields.List(
        fields.String(),
        allow_none=True,
        metadata={"description": "This database's revisions after the call, read back."},
    )
    steps = fields.List(
        fields.Nested(StepSchema),
        metadata={"description": "What ran on this database (applied or reverted)."},
    )
    sql = fields.String(metadata={"description": "With sql=true: this database's SQL."})


def bind_runs(description: str):
    return fields.Dict(
        keys=fields.String(),
        values=fields.Nested(BindRunSchema),
        allow_none=True,
        metadata={"description": description},
    )


def drop_absent_binds(data: dict) -> dict:
    """A single-database answer has no ``binds``, as before they existed."""
    if data.get("binds") is None:
        data.pop("binds", None)
    return data


class _RunSchema(Schema):
    # "from" is a Python keyword; the JSON keeps Alembic's word.
    from_ = fields.List(
        fields.String(),
        data_key="from",
        metadata={"description": "The database's revisions before the call."},
    )
    to = revision_ids(
        "The database's revisions after the call, read back; with sql=true, the revisions the "
        "SQL leads to (the database has not moved)."
    )
    duration_ms = fields.Float()
    sql = fields.String(
        allow_none=True, metadata={"description": "With sql=true: the SQL that would run."}
    )
    operation_id = fields.String(metadata={"description": "See GET /operations/<id>."})
    binds = bind_runs(
        "An application with several databases (binds): where each went, by bind name "
        "('default' is the main one, which the fields above describe). Absent otherwise."
    )

    @post_dump
    def _drop_absent_binds(self, data: dict, **kwargs) -> dict:
        return drop_absent_binds(data)


def _rendered():
    return fields.List(
        fields.Nested(StepSchema),
        metadata={
            "description": "With sql=true: the revisions whose SQL is returned, in order "
            "(nothing was applied or reverted); [] otherwise."
        },
    )


class UpgradeResult(_RunSchema):
    applied = fields.List(
        fields.Nested(StepSchema),
        attribute="steps",
        metadata={"description": "The revisions applied, in order; [] for a dry run."},
    )
    rendered = _rendered()
    retries = retries()


class DowngradeResult(_RunSchema):
    reverted = fields.List(
        fields.Nested(StepSchema),
        attribute="steps",
        metadata={"description": "The revisions reverted, in order; [] for a dry run."},
    )
    rendered = _rendered()
    retries = retries()


class StampResult(_RunSchema):
    pass
