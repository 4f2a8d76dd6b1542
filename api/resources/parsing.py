"""Turning a request's body and query string into validated data, or a 4xx problem."""

from __future__ import annotations

import json

from flask import request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from api import exceptions
from api.schemas.fields import revision_target


def _validated(schema: Schema, data) -> dict:
    # marshmallow's ValidationError carries a .data attribute that Flask-RESTX would send
    # as the body; it never leaves this function.
    try:
        return schema.load(data)
    except ValidationError as err:
        raise exceptions.InvalidRequest(
            "The request does not match the schema; see 'errors'.", errors=err.messages
        ) from None


def body(schema: Schema) -> dict:
    """The JSON object in the request body, validated; an empty body means all defaults.

    :raises RequestEntityTooLarge, UnsupportedMediaType, InvalidRequest:
    """
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if limit is not None and request.content_length is None and len(raw) >= limit:
        # A body without Content-Length (chunked) is cut at the limit without an error by
        # Werkzeug: the rest unread, a body of spaces would pass for "no body" (defaults).
        raise RequestEntityTooLarge()
    if not raw.strip():
        return _validated(schema, {})
    if not request.is_json:
        raise exceptions.UnsupportedMediaType(
            "Send the body as JSON with 'Content-Type: application/json'."
        )
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise exceptions.InvalidRequest(f"The body is not valid JSON: {err}") from None
    except RecursionError:
        # A few kilobytes of brackets exhaust Python's parser (about 1,000 levels); no
        # schema nests deeper than 2, so the caller learns what it sent, not a 500.
        raise exceptions.InvalidRequest(
            "The body is nested too deeply to be parsed; no request nests more than 2 levels."
        ) from None
    if not isinstance(data, dict):
        raise exceptions.InvalidRequest("The body must be a JSON object.")
    return _validated(schema, data)


def query(schema: Schema) -> dict:
    """The query string, validated: unknown and repeated parameters are refused.

    :raises InvalidRequest:
    """
    args = request.args
    repeated = sorted(k for k in args if len(args.getlist(k)) > 1)
    if repeated:
        raise exceptions.InvalidRequest(
            "A query parameter is given more than once.",
            errors={k: ["Repeated."] for k in repeated},
        )
    return _validated(schema, args.to_dict())


def headers(schema: Schema) -> dict:
    """The request headers ``schema`` names (by data_key), validated; absent ones left out.

    :raises InvalidRequest:
    """
    wanted = (field.data_key or name for name, field in schema.fields.items())
    given = {name: request.headers[name] for name in wanted if name in request.headers}
    return _validated(schema, given)


_PathRevisions = Schema.from_dict({"rev": revision_target(required=True)}, name="PathRevisions")


def path_revision(rev: str) -> str:
    """A revision named in the URL (GET /revisions/<rev>), refused if malformed before Alembic
    sees it.

    :raises InvalidRequest:
    """
    return _validated(_PathRevisions(), {"rev": rev})["rev"]
