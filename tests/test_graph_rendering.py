"""GET /revisions/graph: the format chosen by Accept or ?format, a bad query refused, and the
Graphviz renderer missing, slow, or set up by GRAPHVIZ_DOT and GRAPHVIZ_TIMEOUT."""

from __future__ import annotations

import time

import pytest

from api.config import ConfigurationError, load_config
from tests.graph_formats import require_dot
from tests.graph_histories import make_client


def test_accept_chooses_the_format_and_format_wins(client, sqlite_only):
    require_dot()
    cases = [
        ({}, "", "text/vnd.graphviz"),
        ({"Accept": "*/*"}, "", "text/vnd.graphviz"),
        ({"Accept": "image/svg+xml"}, "", "image/svg+xml"),
        ({"Accept": "text/html,image/svg+xml;q=0.9"}, "", "image/svg+xml"),
        ({"Accept": "text/plain"}, "", "text/plain"),
        ({"Accept": "application/json"}, "", "text/vnd.graphviz"),
        ({"Accept": "image/svg+xml"}, "?format=dot", "text/vnd.graphviz"),
        ({}, "?format=svg", "image/svg+xml"),
    ]
    for headers, query, media_type in cases:
        r = client.get("/revisions/graph" + query, headers=headers)
        assert r.status_code == 200 and r.mimetype == media_type, (headers, query)
    svg = client.get("/revisions/graph?format=svg")
    assert "default-src 'none'" in svg.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "query", ["?format=png", "?format=", "?format=dot&format=svg", "?x=1", "?limit=0"]
)
def test_a_bad_query_is_a_problem(client, sqlite_only, query):
    r = client.get("/revisions/graph" + query)
    assert r.status_code == 400 and r.content_type == "application/problem+json"
    assert r.get_json()["type"] == "urn:migrateway:problem:invalid-request"


def test_without_dot_svg_is_a_problem_and_dot_still_works(
    migrations, database_url, sqlite_only, tmp_path, close_app
):
    """Graphviz missing, simulated by GRAPHVIZ_DOT naming a program that does not exist."""
    app, client = make_client(migrations, database_url, GRAPHVIZ_DOT=str(tmp_path / "no-dot"))
    close_app(app)
    r = client.get("/revisions/graph", headers={"Accept": "image/svg+xml"})
    assert r.status_code == 501 and r.content_type == "application/problem+json"
    problem = r.get_json()
    assert problem["type"] == "urn:migrateway:problem:renderer-unavailable"
    assert "apt-get install graphviz" in problem["detail"] and "GRAPHVIZ_DOT" in problem["detail"]
    assert client.get("/revisions/graph").status_code == 200
    assert client.get("/revisions/graph?format=mermaid").status_code == 200
    # A directory is no program either.
    app, client = make_client(migrations, database_url, GRAPHVIZ_DOT=str(tmp_path))
    close_app(app)
    assert client.get("/revisions/graph?format=svg").status_code == 501


def test_a_slow_render_is_stopped(migrations, database_url, sqlite_only, tmp_path, close_app):
    slow = tmp_path / "slow-dot"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(0o755)
    app, client = make_client(
        migrations, database_url, GRAPHVIZ_DOT=str(slow), GRAPHVIZ_TIMEOUT=0.3
    )
    close_app(app)
    started = time.monotonic()
    r = client.get("/revisions/graph?format=svg")
    assert time.monotonic() - started < 5
    assert r.status_code == 503
    assert r.get_json()["type"] == "urn:migrateway:problem:render-timed-out"


def test_graphviz_settings_are_read_and_checked(tmp_path):
    config = load_config({"GRAPHVIZ_DOT": "/opt/dot", "GRAPHVIZ_TIMEOUT": "2.5"}, str(tmp_path))
    assert config["GRAPHVIZ_DOT"] == "/opt/dot" and config["GRAPHVIZ_TIMEOUT"] == 2.5
    defaults = load_config({}, str(tmp_path))
    assert defaults["GRAPHVIZ_DOT"] == "dot" and defaults["GRAPHVIZ_TIMEOUT"] == 10.0
    with pytest.raises(ConfigurationError, match="GRAPHVIZ_TIMEOUT"):
        load_config({"GRAPHVIZ_TIMEOUT": "never"}, str(tmp_path))
