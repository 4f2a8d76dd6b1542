"""The URL and header limits: the app's answer below gunicorn's own, and gunicorn's answer past
them, both problem+json, never gunicorn's HTML page."""

from __future__ import annotations

import json
import socket

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


def raw_request(server, request: bytes) -> tuple[int, str, bytes]:
    """Send bytes as they are (no client library would send a control character in a header)
    and read the answer to the end: gunicorn closes the connection after its own errors."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(request)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers.get("Content-Type", ""), body


def test_past_the_apps_limits_the_app_answers(read_only_server):
    """What gunicorn answered with an HTML page before the app ran (a 9,000-byte Authorization
    header, 120 headers, a URL over 4,094 bytes) now reaches the app, which logs and refuses it."""
    cases = [
        ({"Authorization": "Bearer " + "a" * 9000}, "/current", 431),
        ({**bearer(), **{f"X-Many-{i}": "1" for i in range(120)}}, "/current", 431),
        (bearer(), "/revisions?x=" + "a" * limits.MAX_URL_LENGTH, 414),
    ]
    for headers, path, status in cases:
        r = requests.get(read_only_server.url + path, headers=headers, timeout=10)
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
    assert requests.get(read_only_server.url + url, headers=within, timeout=10).status_code == 200


def test_past_the_servers_limits_gunicorn_answers_a_problem_too(read_only_server):
    head = b"GET /health HTTP/1.1\r\nHost: x\r\n"
    cases = [
        (head + b"X-Bad: a\x01b\r\n\r\n", 400, "invalid-request"),
        (head + b"X-Big: " + b"b" * limits.SERVER_HEADER_FIELD_SIZE + b"\r\n\r\n", 431, None),
        (head + b"X-Many: 1\r\n" * limits.SERVER_HEADER_FIELDS + b"\r\n", 431, None),
        (b"GET /" + b"a" * limits.SERVER_REQUEST_LINE + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, None),
        (b"NOT HTTP AT ALL\r\n\r\n", 400, "invalid-request"),
    ]
    for request, status, slug in cases:
        slug = slug or {414: "uri-too-long", 431: "request-header-fields-too-large"}[status]
        problem = assert_problem(*raw_request(read_only_server, request), status, slug)
        assert problem["detail"] and "<" not in problem["detail"]
    assert requests.get(read_only_server.url + "/health", timeout=10).status_code == 200
