"""The URL and header limits: the app answers below gunicorn's own, as problem+json, where
gunicorn answered with an HTML page."""

from __future__ import annotations

import json

import pytest
import requests

from api import limits
from tests.tokens import bearer

pytestmark = pytest.mark.usefixtures("sqlite_only")


def assert_problem(status: int, content_type: str, body: bytes, expected: int, slug: str) -> dict:
    assert status == expected, body
    assert content_type == "application/problem+json", body
    problem = json.loads(body)
    assert problem["type"] == f"urn:migrateway:problem:{slug}" and problem["status"] == status
    return problem


def test_past_the_apps_limits_the_app_answers(live_server):
    """What gunicorn answered with an HTML page before the app ran (a 9,000-byte Authorization
    header, 120 headers, a URL over 4,094 bytes) now reaches the app, which logs and refuses it."""
    cases = [
        ({"Authorization": "Bearer " + "a" * 9000}, "/current", 431),
        ({**bearer(), **{f"X-Many-{i}": "1" for i in range(120)}}, "/current", 431),
        (bearer(), "/revisions?x=" + "a" * limits.MAX_URL_LENGTH, 414),
    ]
    for headers, path, status in cases:
        r = requests.get(live_server.url + path, headers=headers, timeout=10)
        slug = {414: "uri-too-long", 431: "request-header-fields-too-large"}[status]
        problem = assert_problem(r.status_code, r.headers["Content-Type"], r.content, status, slug)
        assert "X-Request-Id" in r.headers and problem["limit"] in (
            limits.MAX_URL_LENGTH,
            limits.MAX_HEADER_FIELD_SIZE,
            limits.MAX_HEADER_FIELDS,
        )
    # Just within every limit, the request goes through.
    within = {**bearer(), **{f"X-Many-{i}": "1" for i in range(90)}, "X-Big": "b" * 8000}
    url = "/health?x=" + "a" * (limits.MAX_URL_LENGTH - len("/health?x="))
    assert requests.get(live_server.url + url, headers=within, timeout=10).status_code == 200

