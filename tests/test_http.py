"""A pipeline's view: gunicorn serving the app, driven by curl --fail."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.databases import version_rows
from tests.revision_graph import TIP
from tests.tokens import FULL

pytestmark = pytest.mark.usefixtures("sqlite_only")


def curl(server, method: str, path: str, body: dict | None = None) -> tuple[int, dict, str]:
    """Run curl as a pipeline would; return its exit code, the JSON body and the content type."""
    cmd = [
        "curl",
        "--silent",
        "--show-error",
        "--fail-with-body",
        "-X",
        method,
        "-w",
        "\n%{content_type}",
        "-H",
        f"Authorization: Bearer {FULL}",
        server.url + path,
    ]
    if body is not None:
        cmd += ["-H", "Content-Type: application/json", "--data", json.dumps(body)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    text, _, content_type = done.stdout.rpartition("\n")
    return done.returncode, json.loads(text), content_type


def test_pipeline_upgrades_and_rolls_back_with_curl(live_server, database_url):
    code, body, ctype = curl(live_server, "GET", "/current")
    assert code == 0 and ctype == "application/json"
    assert body["up_to_date"] is False

    code, body, _ = curl(live_server, "POST", "/upgrade", {"target": "head"})
    assert code == 0 and body["to"] == [TIP]
    assert version_rows(database_url) == {TIP}

    code, body, _ = curl(live_server, "POST", "/downgrade", {"target": "-1"})
    assert code == 0 and [s["revision"] for s in body["reverted"]] == [TIP]

    # curl --fail-with-body exits 22 on any status >= 400 and still shows the problem.
    code, body, ctype = curl(live_server, "POST", "/downgrade", {})
    assert code == 22 and ctype == "application/problem+json" and body["status"] == 400

    code, body, ctype = curl(live_server, "POST", "/upgrade", {"target": "nosuchrev"})
    assert code == 22 and body["status"] == 404 and ctype == "application/problem+json"


def test_swagger_ui_and_spec_are_served(live_server):
    done = subprocess.run(
        ["curl", "-sf", live_server.url + "/docs"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "swagger-ui" in done.stdout
    code, spec, _ = curl(live_server, "GET", "/swagger.json")
    assert code == 0 and "/upgrade" in spec["paths"]
