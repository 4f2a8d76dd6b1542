"""The URL and header limits the app answers with a problem, set below gunicorn's own."""

from __future__ import annotations

from flask import Flask, request

from api import exceptions

# What the service documents (README, Limits). gunicorn's defaults for the last two, and the
# URL part of its request-line default: what worked before still works.
MAX_URL_LENGTH = 4096  # bytes of the request target (path and query) as sent
MAX_HEADER_FIELD_SIZE = 8190  # bytes of one header field, "Name: value" (repeats joined)
MAX_HEADER_FIELDS = 100  # header fields (a repeated name counts once)

# gunicorn's own limits (api/gunicorn_conf.py), above the app's so that a request breaking one
# of the app's reaches the app. Past these gunicorn refuses it itself (api/gunicorn_worker.py).
# 8190 is the longest request line gunicorn takes.
SERVER_REQUEST_LINE = 8190
SERVER_HEADER_FIELD_SIZE = 2 * MAX_HEADER_FIELD_SIZE
SERVER_HEADER_FIELDS = 2 * MAX_HEADER_FIELDS

# Header fields WSGI names without the HTTP_ prefix.
_UNPREFIXED = {"CONTENT_TYPE": "Content-Type", "CONTENT_LENGTH": "Content-Length"}


def check_request() -> None:
    """Refuse a request whose URL or header fields pass the limits, before its token is read.

    :raises UriTooLong, HeaderFieldsTooLarge:
    """
    environ = request.environ
    if len(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "") > MAX_URL_LENGTH:
        raise exceptions.UriTooLong(
            f"The URL (path and query) is longer than {MAX_URL_LENGTH} bytes.",
            limit=MAX_URL_LENGTH,
        )
    count = 0
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:]
        elif key in _UNPREFIXED:
            name = key
        else:
            continue
        count += 1
        if len(name) + 2 + len(value) > MAX_HEADER_FIELD_SIZE:
            # The name, so the caller knows which; never the value (it may be a token).
            header = _UNPREFIXED.get(key) or name.replace("_", "-").title()
            raise exceptions.HeaderFieldsTooLarge(
                f"The header field {header} is longer than {MAX_HEADER_FIELD_SIZE} bytes.",
                header=header,
                limit=MAX_HEADER_FIELD_SIZE,
            )
    if count > MAX_HEADER_FIELDS:
        raise exceptions.HeaderFieldsTooLarge(
            f"The request has {count} header fields; at most {MAX_HEADER_FIELDS} are taken.",
            limit=MAX_HEADER_FIELDS,
        )


def init_app(app: Flask) -> None:
    """Check the limits on every request; call before api.auth.init_app, so an oversized
    Authorization header is a 431, not a 401."""
    app.before_request(check_request)
