"""Every error leaves the service as application/problem+json (RFC 9457), never HTML or a trace."""

from __future__ import annotations

import inspect
import json
import logging
import re
from http import HTTPStatus

from flask import Flask, Response, request
from flask_restx import Api
from flask_restx.swagger import Swagger
from werkzeug.exceptions import HTTPException

from api.exceptions import Forbidden, Problem, Unauthorized, UnknownTarget
from api.openapi import finish_spec

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:migrateway:problem:"

log = logging.getLogger(__name__)

# scheme://user:PASSWORD@host in a driver's message: the password part.
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)[^\s@/]+@")


def scrubbed(value):
    """A server-side error's text cut to its first line, with URL passwords masked.

    Tracebacks and SQLAlchemy's "[SQL: ...]" / "[parameters: ...]" lines come after the
    first line; whatever raised the error, none of it reaches a 5xx answer.
    """
    if isinstance(value, str):
        lines = value.strip().splitlines() or [""]
        return _URL_PASSWORD.sub(r"\1***@", lines[0].split("[SQL:")[0].rstrip())
    if isinstance(value, dict):
        return {k: scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrubbed(v) for v in value]
    return value


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
        body = problem_body(exc.code or 500, _slug(exc.name), exc.name, exc.description or exc.name)
        if exc.response is None:
            headers.update(
                (k, v) for k, v in exc.get_headers() if k.lower() in {"allow", "www-authenticate"}
            )
    else:
        log.exception("unhandled error on %s %s", request.method, request.path)
        body = problem_body(
            500, "internal-error", "Internal server error", "The service failed; see its log."
        )
    if body["status"] >= 500:
        body = {k: v if k in {"type", "instance"} else scrubbed(v) for k, v in body.items()}
    # A final newline, as RESTX gives its JSON: shell output stays readable.
    response = Response(json.dumps(body) + "\n", status=body["status"], mimetype=PROBLEM_MEDIA_TYPE)
    response.headers.update(headers)
    return response


def _slug(name: str | None) -> str:
    return (name or "error").lower().replace(" ", "-")


def problem_example(kind: type[Problem] | type[HTTPException]) -> dict:
    """The body an answer of ``kind`` has, for the spec: its type, title and status as sent;
    its detail, which a real answer gives about the request, is the class's docstring (or
    title)."""
    if issubclass(kind, Problem):
        doc = inspect.cleandoc(kind.__doc__ or kind.title).split("\n\n")[0]
        detail = " ".join(doc.replace("``", "").split())
        return problem_body(kind.status, kind.slug, kind.title, detail)
    exc = kind()
    return problem_body(exc.code, _slug(exc.name), exc.name, exc.description or exc.name)


def problem_responses(*kinds: type[Problem] | type[HTTPException]) -> dict[str, dict]:
    """Swagger response descriptions and examples by status: each status names the problem
    types it answers with, and its example is the first of them."""
    by_status: dict[str, list[dict]] = {}
    for kind in kinds:
        example = problem_example(kind)
        by_status.setdefault(str(example["status"]), []).append(example)
    return {
        status: {
            "description": HTTPStatus(int(status)).phrase
            + ": "
            + ", ".join(f"`{e['type'].removeprefix(TYPE_PREFIX)}`" for e in examples),
            "example": examples[0],
        }
        for status, examples in sorted(by_status.items())
    }


class ProblemApi(Api):
    """A Flask-RESTX Api whose every error, expected or not, is answered as problem+json."""

    def handle_error(self, e):  # noqa: D102 - overrides Api.handle_error
        return problem_response(e)

    @property
    def __schema__(self) -> dict:
        """The Swagger spec as RESTX builds it, finished by :func:`api.openapi.finish_spec`."""
        if not self._schema:
            with self._schema_lock:
                if not self._schema:
                    self._schema = finish_spec(
                        Swagger(self).as_dict(),
                        PROBLEM_MEDIA_TYPE,
                        problem_responses(Unauthorized, Forbidden),
                        problem_responses(UnknownTarget),
                    )
        return self._schema


def init_app(app: Flask) -> None:
    """Answer errors outside the RESTX resources (unknown URLs, 405s, 413s) the same way."""
    app.register_error_handler(HTTPException, problem_response)
    app.register_error_handler(Exception, problem_response)
