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
    # Seconds after which asking again may succeed (Retry-After), for passing conditions.
    retry_after: int | None = None

    def __init__(self, detail: str, **extra):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}
        if self.retry_after is not None:
            self.headers["Retry-After"] = str(self.retry_after)


class InvalidRequest(Problem):
    status = 400
    slug = "invalid-request"
    title = "Invalid request"


class UriTooLong(Problem):
    status = 414
    slug = "uri-too-long"
    title = "URI too long"


class HeaderFieldsTooLarge(Problem):
    status = 431
    slug = "request-header-fields-too-large"
    title = "Request header fields too large"


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


class DryRunFailed(Problem):
    """A dry run (``sql: true``) could not render its SQL; nothing ran on the database."""

    status = 422
    slug = "dry-run-failed"
    title = "The SQL could not be rendered; nothing ran"


class UnacknowledgedDataLoss(Problem):
    """The change would destroy data that exists now; it runs with the plan_id of its plan."""

    status = 409
    slug = "unacknowledged-data-loss"
    title = "The change destroys data; review its plan and send its plan_id"


class IntegrityCheckFailed(Problem):
    """The chain runs a revision whose file changed or went since it was applied."""

    status = 409
    slug = "integrity-check-failed"
    title = "A revision to run is not the file that was applied"


class DatabaseUnavailable(Problem):
    status = 503
    slug = "database-unavailable"
    title = "Database unavailable"
    retry_after = 5


class QueueUnavailable(Problem):
    """Prefer: respond-async on Celery: the broker did not take the operation."""

    status = 503
    slug = "queue-unavailable"
    title = "Queue unavailable"
    retry_after = 5


class MigrationsUnavailable(Problem):
    status = 503
    slug = "migrations-unavailable"
    title = "Migrations directory cannot be loaded"


class RendererUnavailable(Problem):
    """The SVG renderer, Graphviz's dot, is not installed where the service runs."""

    # 501, not 503: it stays missing until someone installs it, and `curl --retry` retries 503.
    status = 501
    slug = "renderer-unavailable"
    title = "The SVG renderer is not installed"


class RenderTimedOut(Problem):
    """Graphviz's dot did not finish the picture within GRAPHVIZ_TIMEOUT seconds."""

    status = 503
    slug = "render-timed-out"
    title = "The picture took too long to draw"


class UnsupportedMediaType(Problem):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class Locked(Problem):
    status = 409
    slug = "locked"
    title = "Another migration holds the lock"


class LockLost(Problem):
    """The migration lock's session ended while the operation ran; the chain stopped."""

    status = 409
    slug = "lock-lost"
    title = "The migration lock was lost; the migration stopped"


class RecoveryRequired(Problem):
    """A failed revision may have partly run on a database without transactional DDL."""

    status = 409
    slug = "recovery-required"
    title = "The database needs an operator before it is migrated again"


class PreconditionFailed(Problem):
    status = 412
    slug = "precondition-failed"
    title = "The database has moved since you looked"


class IdempotencyKeyReused(Problem):
    status = 422
    slug = "idempotency-key-reused"
    title = "Idempotency-Key reused with another request"


class OperationInProgress(Problem):
    status = 409
    slug = "operation-in-progress"
    title = "The request with this Idempotency-Key is still running"


class OperationInterrupted(Problem):
    """A retry's Idempotency-Key names an operation whose process stopped before answering."""

    status = 409
    slug = "operation-interrupted"
    title = "The operation with this Idempotency-Key was interrupted"


class UnknownOperation(Problem):
    status = 404
    slug = "unknown-operation"
    title = "Unknown operation"


class UnknownTarget(Problem):
    status = 404
    slug = "unknown-target"
    title = "Unknown target"


class UnknownRollout(Problem):
    status = 404
    slug = "unknown-rollout"
    title = "Unknown rollout"


class InvalidRollout(Problem):
    """A well-formed rollout request that does not fit the targets: a name no target has,
    waves that do not reach them all, no target at all."""

    status = 422
    slug = "invalid-rollout"
    title = "Invalid rollout"


class RolloutConflict(Problem):
    """Resume or cancel asked of a rollout in a status that does not allow it."""

    status = 409
    slug = "rollout-conflict"
    title = "Rollout conflict"


class AlreadyDone(Exception):
    """Not an error: a request with this Idempotency-Key was answered while this one waited
    for the lock. Carries that operation so the caller can replay its answer."""

    def __init__(self, operation):
        super().__init__(operation.id)
        self.operation = operation


class Unauthorized(Problem):
    """No token, a malformed one, or one no entry matches (RFC 6750 ``WWW-Authenticate``)."""

    status = 401
    slug = "unauthorized"
    title = "A valid bearer token is required"

    def __init__(self, detail: str, error: str | None = None, **extra):
        super().__init__(detail, **extra)
        challenge = 'Bearer realm="migrateway"'
        if error:
            challenge += f', error="{error}"'
        self.headers["WWW-Authenticate"] = challenge


class Forbidden(Problem):
    """A known token without the scope the call needs."""

    status = 403
    slug = "forbidden"
    title = "The token lacks the scope this call needs"

    def __init__(self, detail: str, missing_scope: str | None = None, **extra):
        if missing_scope:
            extra["missing_scope"] = missing_scope
        super().__init__(detail, **extra)
        challenge = 'Bearer realm="migrateway", error="insufficient_scope"'
        if missing_scope:
            challenge += f', scope="{missing_scope}"'
        self.headers["WWW-Authenticate"] = challenge


class NotReady(Problem):
    """GET /ready: the database or the migrations directory cannot be used right now."""

    status = 503
    slug = "not-ready"
    title = "Not ready"
    retry_after = 5
