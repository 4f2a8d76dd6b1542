"""Bearer tokens and scopes, through gunicorn: who gets in, what they may do, what leaks."""

from __future__ import annotations

import re

import pytest
import requests
from flask import g

from api import create_app
from api.auth import PUBLIC_RULES, required_scope
from tests.tokens import DEPLOYER, FULL, NOTHING, READER, authorized, bearer

pytestmark = pytest.mark.usefixtures("sqlite_only")

UNKNOWN = "mgw_not-a-configured-token"


# Not kept alive: a response the test still holds keeps its connection open, and a server
# stopped meanwhile waits up to 2 s on it.
CLOSE = {"Connection": "close"}


def get(server, path: str, headers: dict | None = None) -> requests.Response:
    return requests.get(server.url + path, headers={**CLOSE, **(headers or {})}, timeout=30)


def post(server, path: str, body: dict, headers: dict | None = None) -> requests.Response:
    headers = {**CLOSE, **(headers or {})}
    return requests.post(server.url + path, json=body, headers=headers, timeout=60)


def assert_problem(r: requests.Response, status: int, slug: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"] == f"urn:migrateway:problem:{slug}" and problem["status"] == status
    return problem


def test_no_token_is_401_with_a_bearer_challenge(read_only_server):
    r = get(read_only_server, "/current")
    problem = assert_problem(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in problem["detail"]


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (f"Bearer {UNKNOWN}", "invalid_token"),
        (f"Bearer {FULL}x", "invalid_token"),
        (f"Basic {FULL}", "invalid_request"),
        (FULL, "invalid_request"),  # the token without "Bearer " (a common Swagger UI slip)
        ("Bearer", "invalid_request"),
        (f"Bearer {FULL} extra", "invalid_request"),
        ("Bearer ünïcödé", "invalid_request"),
    ],
)
def test_unknown_or_malformed_token_is_401(read_only_server, header, error):
    r = requests.get(
        read_only_server.url + "/current", headers={"Authorization": header.encode()}, timeout=30
    )
    assert_problem(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"] == f'Bearer realm="migrateway", error="{error}"'


def test_the_scheme_is_case_insensitive(read_only_server):
    assert get(read_only_server, "/current", {"Authorization": f"bearer {FULL}"}).status_code == 200


def test_every_scope_guards_its_call(live_server):
    reader, deployer = bearer(READER), bearer(DEPLOYER)
    assert get(live_server, "/revisions", reader).status_code == 200
    for path, scope in (("/upgrade", "upgrade"), ("/downgrade", "downgrade"), ("/stamp", "stamp")):
        r = post(live_server, path, {"target": "head"}, reader)
        problem = assert_problem(r, 403, "forbidden")
        assert problem["missing_scope"] == scope and scope in problem["detail"]
        challenge = r.headers["WWW-Authenticate"]
        assert challenge.endswith(f'error="insufficient_scope", scope="{scope}"')

    assert post(live_server, "/upgrade", {"target": "head"}, deployer).status_code == 200
    r = post(live_server, "/downgrade", {"target": "-1"}, deployer)
    assert assert_problem(r, 403, "forbidden")["missing_scope"] == "downgrade"

    r = get(live_server, "/current", bearer(NOTHING))
    assert assert_problem(r, 403, "forbidden")["missing_scope"] == "read"


def test_the_token_name_is_the_recorded_actor(live_server):
    assert post(live_server, "/upgrade", {"target": "+1"}, bearer(DEPLOYER)).status_code == 200
    latest = get(live_server, "/operations", bearer(READER)).json()["items"][0]
    assert latest["actor"] == "deployer"


def test_docs_spec_and_health_need_no_token(read_only_server):
    for path in ("/health", "/docs", "/swagger.json", "/swaggerui/swagger-ui.css"):
        assert get(read_only_server, path).status_code == 200, path


def test_an_unknown_url_says_nothing_without_a_token(read_only_server):
    assert_problem(get(read_only_server, "/nowhere"), 401, "unauthorized")
    assert_problem(get(read_only_server, "/nowhere", bearer()), 404, "not-found")
    assert_problem(get(read_only_server, "/upgrade"), 401, "unauthorized")
    assert_problem(get(read_only_server, "/upgrade", bearer()), 405, "method-not-allowed")


def test_no_token_appears_in_a_log_line_or_a_response(start_server):
    server = start_server({"LOG_LEVEL": "DEBUG"})
    answers = [
        get(server, "/current", bearer(FULL)),
        get(server, "/current", bearer(UNKNOWN)),
        get(server, "/current", {"Authorization": FULL}),
        post(server, "/upgrade", {"target": "head"}, bearer(READER)),
        post(server, "/upgrade", {"target": "head"}, bearer(DEPLOYER)),
        get(server, "/operations", bearer(FULL)),
        get(server, "/nowhere", bearer(FULL)),
    ]
    log = server.stop()
    assert "GET /current" in log or "/current" in log  # the log did record the requests
    for token in (FULL, UNKNOWN, READER, DEPLOYER):
        for r in answers:
            assert token not in r.text and token not in str(r.headers)
        assert token not in log


def test_without_tokens_every_protected_call_says_how_to_create_one(start_server, tmp_path):
    server = start_server(
        {"MIGRATEWAY_TOKENS": None, "MIGRATEWAY_TOKENS_FILE": str(tmp_path / "none.json")}
    )
    for r in (get(server, "/current", bearer()), post(server, "/upgrade", {}, bearer())):
        problem = assert_problem(r, 401, "unauthorized")
        assert "flask --app wsgi tokens create" in problem["detail"]
    assert get(server, "/health").status_code == 200


def test_a_post_endpoint_missing_from_the_scope_map_is_refused_to_every_token(
    migrations, database_url
):
    """A new endpoint that changes something stays closed until someone names its scope."""
    app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
    app.add_url_rule("/drop-everything", "drop", lambda: "dropped", methods=["POST", "DELETE"])
    app.add_url_rule("/whoami", "whoami", lambda: g.actor)
    client = authorized(app.test_client(), FULL)
    for method in ("post", "delete"):
        r = getattr(client, method)("/drop-everything")
        assert r.status_code == 403 and r.content_type == "application/problem+json"
        assert "No scope allows" in r.get_json()["detail"]
    assert required_scope("PUT", "/upgrade") is None
    assert client.get("/whoami").get_data(as_text=True) == "tester"


def test_swagger_declares_the_bearer_scheme(app):
    spec = app.test_client().get("/swagger.json").get_json()
    assert spec["securityDefinitions"]["bearer"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": spec["securityDefinitions"]["bearer"]["description"],
    }
    assert "Bearer <token>" in spec["securityDefinitions"]["bearer"]["description"]
    assert spec["security"] == [{"bearer": []}]
    assert spec["paths"]["/health"]["get"]["security"] == []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method != "parameters" and operation.get("security") != []:
                assert {"401", "403"} <= set(operation["responses"]), (method, path)


def test_the_spec_and_the_guard_agree_on_what_is_public(app):
    """An operation the spec shows without security is exactly one the guard lets through."""
    spec = app.test_client().get("/swagger.json").get_json()
    rules = {
        re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule): rule.rule
        for rule in app.url_map.iter_rules()
    }
    for path, item in spec["paths"].items():
        public = all(op.get("security") == [] for m, op in item.items() if m != "parameters")
        assert (rules[path] in PUBLIC_RULES) == public, path
