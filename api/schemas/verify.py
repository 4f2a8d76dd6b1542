"""Shapes of GET /verify and POST /verify/accept."""

from __future__ import annotations

from marshmallow import Schema, fields, post_dump, validate

from api.schemas.fields import revision_id

MAX_ACCEPTED = 1000


class RevisionCheckSchema(Schema):
    """One applied revision, its file now against the file as it was applied."""

    revision = fields.String()
    bind = fields.String(metadata={"description": "The database ('default' unless several)."})
    status = fields.String(
        metadata={
            "enum": ["ok", "file_changed", "missing_file", "unknown_prior"],
            "description": "ok: the file is what was applied (or accepted), line endings and "
            "a BOM aside; file_changed: edited since; missing_file: gone from the directory; "
            "unknown_prior: applied before Migrateway kept checksums (accept it to start).",
        }
    )
    applied_at = fields.DateTime(allow_none=True)
    operation_id = fields.String(
        allow_none=True, metadata={"description": "The operation that applied (or stamped) it."}
    )
    recorded_sha256 = fields.String(
        allow_none=True, metadata={"description": "SHA-256 of the file as applied (normalised)."}
    )
    current_sha256 = fields.String(
        allow_none=True, metadata={"description": "SHA-256 of the file now; null when gone."}
    )
    accepted_by = fields.String(
        allow_none=True, metadata={"description": "Who accepted the file as it is now."}
    )
    accepted_at = fields.DateTime(allow_none=True)
    sql_digest = fields.String(
        allow_none=True,
        metadata={
            "description": "SHA-256 of the SQL this revision's step executed when it was "
            "applied (statements and parameters, in order, Alembic's version-table updates "
            "aside); null for a stamp or a revision applied before Migrateway recorded it."
        },
    )
    dialect = fields.String(
        allow_none=True,
        metadata={
            "description": "The database dialect that SQL ran on ('sqlite', 'postgresql', "
            "'mysql', ...); null where sql_digest is."
        },
    )
    diff = fields.String(
        allow_none=True,
        metadata={"description": "file_changed: a unified diff from the file as applied to now."},
    )

    @post_dump
    def _diff_only_when_changed(self, data: dict, **kwargs) -> dict:
        if data.get("diff") is None:
            data.pop("diff", None)
        return data


class DriftPartSchema(Schema):
    checked = fields.Boolean(metadata={"description": "False: there was nothing to compare."})
    ok = fields.Boolean()
    differences = fields.List(fields.Dict(), metadata={"description": "Each difference found."})
    reason = fields.String(
        metadata={"description": "Why it was not checked (absent when it was)."},
    )


class DriftSchema(Schema):
    models = fields.Nested(
        DriftPartSchema, metadata={"description": "The application's models against the database."}
    )
    schema = fields.Nested(
        DriftPartSchema,
        metadata={"description": "The live schema against its snapshot at the last operation."},
    )


class VerifySchema(Schema):
    ok = fields.Boolean(
        metadata={
            "description": "No applied revision changed or missing, and no drift found where "
            "checked (unknown_prior is listed, not held against it)."
        }
    )
    revisions = fields.List(fields.Nested(RevisionCheckSchema))
    drift = fields.Nested(DriftSchema)


class AcceptRequest(Schema):
    class Meta:
        example = {"revisions": ["3f2a1b4c5d6e"]}

    revisions = fields.List(
        revision_id(),
        required=True,
        validate=validate.Length(min=1, max=MAX_ACCEPTED),
        metadata={
            "description": "The applied revisions whose files, as they are now, are to be "
            "recorded as accepted."
        },
    )


class AcceptResult(Schema):
    operation_id = fields.String(metadata={"description": "The 'accept' in the operation log."})
    revisions = fields.List(fields.Nested(RevisionCheckSchema))


def accept_changed_field() -> fields.List:
    """accept_changed of POST /upgrade and /downgrade."""
    return fields.List(
        revision_id(),
        validate=validate.Length(max=MAX_ACCEPTED),
        metadata={
            "description": "Revisions whose files changed since they were applied (GET "
            "/verify) to run all the same; recorded with the operation and its actor. "
            "Otherwise such a chain answers 409 integrity-check-failed."
        },
    )
