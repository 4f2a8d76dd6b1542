"""Shapes of the operation log."""

from __future__ import annotations

from marshmallow import Schema, fields, post_dump

from api.schemas.commands import StepSchema, bind_runs, drop_absent_binds, retries
from api.schemas.paging import page_of, page_query
from api.schemas.plan import AcknowledgedSchema


class ProgressSchema(Schema):
    done = fields.Integer(metadata={"description": "Revisions finished."})
    total = fields.Integer(allow_none=True, metadata={"description": "Revisions planned."})
    running_revision = fields.String(allow_none=True)
    elapsed_ms = fields.Float()


class OperationSchema(Schema):
    # A line per field of api/service/oplog/record.py's Operation that the API shows.
    id = fields.String()
    kind = fields.String(metadata={"enum": ["upgrade", "downgrade", "stamp", "accept"]})
    actor = fields.String()
    target = fields.String()
    sql = fields.Boolean(
        metadata={
            "description": "A dry run: it rendered SQL and changed nothing; its steps were "
            "rendered and its 'to' is where the SQL leads."
        }
    )
    from_ = fields.List(fields.String(), data_key="from")
    to = fields.List(fields.String(), allow_none=True)
    steps = fields.List(fields.Nested(StepSchema))
    status = fields.String(
        metadata={
            "enum": ["queued", "running", "succeeded", "failed", "interrupted", "refused"],
            "description": "queued and refused only on Celery (Prefer: respond-async with "
            "CELERY_BROKER_URL set): queued until a worker takes it; refused when the worker "
            "found it could not run (nothing ran; problem says why).",
        }
    )
    error = fields.String(allow_none=True)
    problem = fields.Dict(
        allow_none=True,
        metadata={
            "description": "Refused: the problem the request would have been answered with, "
            "had it waited (application/problem+json's members). Absent otherwise."
        },
    )
    failed_revision = fields.String(allow_none=True)
    partial_possible = fields.Boolean(
        metadata={"description": "The failed revision may have partly run (no transactional DDL)."}
    )
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    client_address = fields.String(allow_none=True)
    lock_wait_ms = fields.Float(allow_none=True)
    progress = fields.Nested(ProgressSchema)
    resolves = fields.String(
        allow_none=True,
        metadata={"description": "A stamp: the operation whose recovery it acknowledged."},
    )
    resolved_by = fields.String(
        allow_none=True,
        metadata={"description": "The stamp that acknowledged this operation's recovery."},
    )
    binds = bind_runs(
        "An application with several databases (binds): each one's revisions and steps, by "
        "bind name ('default' is the main one). Absent otherwise."
    )

    acknowledged = fields.Nested(
        AcknowledgedSchema,
        allow_none=True,
        metadata={
            "description": "It destroyed data that existed, and ran with the plan_id of its "
            "plan: the plan and its losses, acknowledged by the actor. Absent otherwise."
        },
    )
    retries = retries()
    accepted_changed = fields.List(
        fields.Dict(),
        allow_none=True,
        metadata={
            "description": "Revisions whose files had changed since they were applied, run "
            "because the request named them in accept_changed (each with its status and "
            "recorded and current sha256). Absent otherwise."
        },
    )

    @post_dump
    def _drop_absent_binds(self, data: dict, **kwargs) -> dict:
        for absent in ("acknowledged", "accepted_changed", "problem"):
            if data.get(absent) is None:
                data.pop(absent, None)
        data["retries"] = data.get("retries") or []  # null in records of earlier versions
        return drop_absent_binds(data)


OperationPageSchema = page_of(OperationSchema, "OperationPageSchema")
OperationListQuery = page_query("operations", "OperationListQuery")
