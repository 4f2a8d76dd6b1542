"""Every error leaves the service as application/problem+json (RFC 9457), never HTML or a trace."""

from __future__ import annotations

import json
import logging

from flask import Flask, Response, request
from flask_restx import Api
from werkzeug.exceptions import HTTPException

from api.exceptions import Problem

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:migrateway:problem:"

log = logging.getLogger(__name__)


def problem_body(status: int, slug: str, title: str, detail: str, **extra) -> dict:
    """The one problem shape: RFC 9457 members first, then fields that help the caller."""
    body = {
        "type": TYPE_PREFIX + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path if request else None,
    }
    body.update(extra)
    return body


def problem_response(exc: BaseException) -> Response:
    """Turn any exception into a problem+json response; unexpected ones are logged, not shown."""
    headers: dict[str, str] = {}
    if isinstance(exc, Problem):
        body = problem_body(exc.status, exc.slug, exc.title, exc.detail, **exc.extra)
        headers.update(exc.headers)
    elif isinstance(exc, HTTPException):
        status = exc.code or 500
        slug = (exc.name or "error").lower().replace(" ", "-")
        body = problem_body(status, slug, exc.name, exc.description or exc.name)
        if exc.response is None:
            headers.update(
                (k, v) for k, v in exc.get_headers() if k.lower() in {"allow", "www-authenticate"}
            )
    else:
        log.exception("unhandled error on %s %s", request.method, request.path)
        body = problem_body(
            500, "internal-error", "Internal server error", "The service failed; see its log."
        )
    response = Response(json.dumps(body), status=body["status"], mimetype=PROBLEM_MEDIA_TYPE)
    response.headers.update(headers)
    return response


class ProblemApi(Api):
    """A Flask-RESTX Api whose every error, expected or not, is answered as problem+json."""

    def handle_error(self, e):  # noqa: D102 - overrides Api.handle_error
        return problem_response(e)


def init_app(app: Flask) -> None:
    """Answer errors outside the RESTX resources (unknown URLs, 405s, 413s) the same way."""
    app.register_error_handler(HTTPException, problem_response)
    app.register_error_handler(Exception, problem_response)
