"""Turning a request's body and query string into validated data, or a 4xx problem."""

from __future__ import annotations

import json

from flask import request
from marshmallow import Schema, ValidationError

from api import exceptions


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

    :raises UnsupportedMediaType, InvalidRequest:
    """
    raw = request.get_data(cache=True)
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
