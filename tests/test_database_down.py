"""A database that is down, restarting or gone mid-operation: every answer is a 503 a pipeline
can retry (or the true answer, where the database is not needed), never a 500, and no
operation stays `running` once the database is back."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from api import create_app, db
from tests.databases import server_port, servers
from tests.revision_graph import SECOND
from tests.servers import Proxy, free_port
from tests.tokens import authorized

WRITES = [
    (kind, headers)
    for kind in ("upgrade", "downgrade", "stamp")
    for headers in (
        {},
        {"Idempotency-Key": "k"},
        {"Prefer": "respond-async"},
        {"Idempotency-Key": "k", "Prefer": "respond-async"},
    )
]
# Every endpoint, and its answer while the database cannot be reached. /branches needs only
# the migrations directory; /metrics reports the database down; /ready says not-ready.
ENDPOINTS = [
    ("GET", "/current", {}, "database-unavailable"),
    ("GET", "/heads", {}, "database-unavailable"),
    ("GET", "/branches", {}, 200),
    ("GET", "/revisions", {}, "database-unavailable"),
    ("GET", f"/revisions/{SECOND}", {}, "database-unavailable"),
    ("GET", "/operations", {}, "database-unavailable"),
    ("GET", "/operations/0b7a32a8-2a43-4c55-8a36-2b3dc0d4a6e5", {}, "database-unavailable"),
    ("GET", "/metrics", {}, 200),
    ("GET", "/ready", {}, "not-ready"),
] + [("POST", f"/{kind}", headers, "database-unavailable") for kind, headers in WRITES]


@pytest.fixture
def proxy(database_url, network_only):
    """A Proxy in front of the test's database, and the URL that reaches the database through it."""
    proxy = Proxy(server_port(database_url))
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    proxy.url = url.render_as_string(hide_password=False)
    yield proxy
    proxy.close()


def assert_unavailable(answer) -> None:
    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.content_type == "application/problem+json"
    assert answer.get_json()["type"].endswith(":database-unavailable")
    assert int(answer.headers["Retry-After"]) > 0


def test_reads_after_the_database_went_away_are_503_every_time(migrations, proxy):
    app = create_app(
        {"DATABASE_URL": proxy.url, "MIGRATIONS_DIR": str(migrations.path), "DB_CONNECT_TIMEOUT": 2}
    )
    client = authorized(app.test_client())
    try:
        assert client.post("/upgrade", json={"target": SECOND}).status_code == 200
        assert client.get("/current").get_json()["current"] == [SECOND]  # the fast path, warm

        proxy.cut("refuse")
        # The first read finds its kept connection dead; the next ones must make a new one.
        for path in ("/current", "/current", "/heads", "/revisions", f"/revisions/{SECOND}"):
            assert_unavailable(client.get(path))

        proxy.restore()
        assert client.get("/current").get_json()["current"] == [SECOND]
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize(
    "method, path, headers, expected",
    ENDPOINTS,
    ids=[f"{m} {p} {' '.join(sorted(h))}".strip() for m, p, h, _ in ENDPOINTS],
)
def test_every_endpoint_answers_while_the_database_cannot_be_reached(
    backend, network_only, migrations, method, path, headers, expected
):
    nowhere = make_url(servers()[backend]).set(host="127.0.0.1", port=free_port(), database="x")
    app = create_app(
        {
            "DATABASE_URL": nowhere.render_as_string(hide_password=False),
            "MIGRATIONS_DIR": str(migrations.path),
        }
    )
    body = {"target": SECOND} if method == "POST" else None
    try:
        answer = authorized(app.test_client()).open(path, method=method, json=body, headers=headers)
    finally:
        with app.app_context():
            db.engine.dispose()
    if expected == 200:
        assert answer.status_code == 200, answer.get_data(as_text=True)
        if path == "/metrics":
            assert "migrateway_database_up 0.0" in answer.get_data(as_text=True)
        return
    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.content_type == "application/problem+json"
    assert answer.get_json()["type"].endswith(f":{expected}")
    assert int(answer.headers["Retry-After"]) > 0
