"""The domain errors the service raises; api.problems turns each into problem+json."""

from __future__ import annotations


class Problem(Exception):
    """An error with an HTTP status, a stable type slug and extra fields for the body.

    Deliberately has no ``data`` attribute: Flask-RESTX would send that instead of
    the problem body.
    """

    status = 500
    slug = "internal-error"
    title = "Internal server error"

    def __init__(self, detail: str, **extra):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}


class InvalidRequest(Problem):
    status = 400
    slug = "invalid-request"
    title = "Invalid request"


class UnknownRevision(Problem):
    status = 404
    slug = "unknown-revision"
    title = "Unknown revision"


class AmbiguousRevision(Problem):
    status = 400
    slug = "ambiguous-revision"
    title = "Ambiguous revision prefix"


class MultipleHeads(Problem):
    status = 409
    slug = "multiple-heads"
    title = "Several heads match the target"


class RevisionConflict(Problem):
    """The target cannot be reached from where the database is (not an ancestor, unknown
    current revision, a range that crosses branches)."""

    status = 409
    slug = "revision-conflict"
    title = "Target not reachable from the current revision"


class MigrationFailed(Problem):
    # 422, not 500: the service worked, a migration script failed; and `curl --retry`
    # retries 500 but not 422, so a pipeline never re-runs a failing migration blindly.
    status = 422
    slug = "migration-failed"
    title = "Migration failed"


class DatabaseUnavailable(Problem):
    status = 503
    slug = "database-unavailable"
    title = "Database unavailable"

    def __init__(self, detail: str, **extra):
        super().__init__(detail, **extra)
        self.headers["Retry-After"] = "5"


class MigrationsUnavailable(Problem):
    status = 503
    slug = "migrations-unavailable"
    title = "Migrations directory cannot be loaded"


class UnsupportedMediaType(Problem):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"
