"""Hostile input over real HTTP, and what a 5xx answer may never carry."""

from __future__ import annotations

import pytest
import requests
import sqlalchemy as sa

from api import exceptions
from api.openapi import served_spec
from api.service import MigrationService
from tests.tokens import bearer

pytestmark = pytest.mark.usefixtures("sqlite_only")

SECRET = "hunter2-s3cr3t"


def send(server, method: str, path: str, **kwargs) -> requests.Response:
    headers = {**bearer(), **kwargs.pop("headers", {})}
    return requests.request(method, server.url + path, headers=headers, timeout=30, **kwargs)


def assert_problem(r: requests.Response, status: int, slug: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json()["type"] == f"urn:migrateway:problem:{slug}"
    return r.json()


def test_hostile_bodies_are_refused_with_problems(live_server):
    json_type = {"Content-Type": "application/json"}
    r = send(live_server, "POST", "/upgrade", data="{" + " " * 20_000 + "}", headers=json_type)
    assert_problem(r, 413, "request-entity-too-large")
    # Without a Content-Length (chunked), the limit holds while reading.
    chunks = (b" " * 4096 for _ in range(8))
    r = send(live_server, "POST", "/upgrade", data=chunks, headers=json_type)
    assert_problem(r, 413, "request-entity-too-large")

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert_problem(
        send(live_server, "POST", "/upgrade", data="target=head", headers=form),
        415,
        "unsupported-media-type",
    )
    for raw in (b'{"target": ', b"\xff\xfe{}", b"[1, 2]", b"null"):
        r = send(live_server, "POST", "/upgrade", data=raw, headers=json_type)
        assert_problem(r, 400, "invalid-request")
    r = send(live_server, "POST", "/stamp", json={"target": "head", "force": True})
    assert assert_problem(r, 400, "invalid-request")["errors"] == {"force": ["Unknown field."]}
    # Nested deeper than Python's JSON parser goes (a RecursionError), within the size limit.
    deep = "[" * 6000 + "]" * 6000
    for raw in (deep, '{"target": ' + deep + "}"):
        r = send(live_server, "POST", "/upgrade", data=raw, headers=json_type)
        assert "nested too deeply" in assert_problem(r, 400, "invalid-request")["detail"]


def test_query_out_of_range_over_http(live_server):
    for query in ("limit=0", "limit=100001", "offset=-1", "limit=1e3", f"offset={2**31}"):
        r = send(live_server, "GET", f"/revisions?{query}")
        assert assert_problem(r, 400, "invalid-request")["errors"], query
    # Past a signed 64-bit integer, an offset overflowed the database driver (a 500) once
    # the operation log had a row.
    assert send(live_server, "POST", "/upgrade", json={"sql": True}).status_code == 200
    for query in (f"offset={2**63}", f"offset={2**31}", f"limit={2**63}"):
        r = send(live_server, "GET", f"/operations?{query}")
        assert assert_problem(r, 400, "invalid-request")["errors"], query


def test_every_number_a_request_carries_is_bounded_in_the_spec(app):
    """Swagger shows a minimum and a maximum for every integer or number a client sends."""
    spec = served_spec(app)
    seen = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for param in operation.get("parameters", []) if method != "parameters" else []:
                schema = param.get("schema", param)
                ref = schema.get("$ref", "")
                fields = (
                    spec["definitions"][ref.rpartition("/")[2]]["properties"].items()
                    if ref
                    else [(param["name"], schema)]
                )
                for name, field in fields:
                    if field.get("type") in ("integer", "number"):
                        seen.append(f"{method.upper()} {path} {name}")
                        assert {"minimum", "maximum"} <= set(field), seen[-1]
    assert "GET /operations offset" in seen and "POST /upgrade lock_timeout" in seen


def test_an_unexpected_error_answers_500_with_nothing_inside(client, monkeypatch):
    def explode(self):
        raise sa.exc.ProgrammingError(
            f"SELECT * FROM secrets WHERE password = '{SECRET}'",
            {"password": SECRET},
            Exception(f"postgresql://admin:{SECRET}@db/prod is down"),
        )

    monkeypatch.setattr(MigrationService, "heads", explode)
    r = client.get("/heads")
    problem = assert_client_problem(r, 500, "internal-error")
    text = r.get_data(as_text=True)
    assert SECRET not in text and "SELECT" not in text and "Traceback" not in text
    assert problem["detail"] == "The service failed; see its log."


def test_a_5xx_problem_keeps_one_line_and_no_password(client, monkeypatch):
    """Whatever a service error message holds after its first line (a traceback, the SQL and
    its parameters), and any password in a URL, stays out of a 5xx answer."""

    def unavailable(self):
        raise exceptions.DatabaseUnavailable(
            f"postgresql://admin:{SECRET}@db:5432/prod cannot be reached: OperationalError: "
            "timeout\n[SQL: SELECT version_num FROM alembic_version WHERE x = %(x)s]\n"
            f"[parameters: {{'x': '{SECRET}'}}]\nTraceback (most recent call last):\n  ...",
            url=f"mysql+pymysql://root:{SECRET}@db/test",
        )

    monkeypatch.setattr(MigrationService, "heads", unavailable)
    r = client.get("/heads")
    problem = assert_client_problem(r, 503, "database-unavailable")
    text = r.get_data(as_text=True)
    assert SECRET not in text and "[SQL:" not in text and "Traceback" not in text
    assert problem["detail"].startswith("postgresql://admin:***@db:5432/prod cannot be reached")
    assert problem["url"] == "mysql+pymysql://root:***@db/test"


def test_an_unreachable_database_with_a_password_answers_503_without_it(start_server):
    server = start_server({"DATABASE_URL": f"postgresql://admin:{SECRET}@127.0.0.1:1/nowhere"})
    for method, path in (("GET", "/current"), ("POST", "/upgrade")):
        r = send(server, method, path)
        assert r.status_code == 503 and SECRET not in r.text and "Traceback" not in r.text
        assert r.headers["Content-Type"] == "application/problem+json"


def assert_client_problem(r, status: int, slug: str) -> dict:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.content_type == "application/problem+json"
    assert r.get_json()["type"] == f"urn:migrateway:problem:{slug}"
    return r.get_json()


@pytest.mark.parametrize("flag", [0, 1, "true", None])
def test_flags_take_only_json_booleans(client, flag, sqlite_only):
    r = client.post("/upgrade", json={"sql": flag})
    assert r.status_code == 400, r.get_json()
    assert "sql" in r.get_json()["errors"]
