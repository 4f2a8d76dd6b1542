"""The JSON log of a live gunicorn: a line per request and per revision, tied by the request id."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from flask import g

from api import logs
from tests.revision_graph import ALL
from tests.servers import Gunicorn
from tests.tokens import FULL

pytestmark = pytest.mark.usefixtures("sqlite_only")


@pytest.fixture
def server(migrations, database_url):
    # Under the project's gunicorn settings, as the README runs it (the flags given win).
    server = Gunicorn(
        {"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)},
        args=("--config", "python:api.gunicorn_conf"),
    )
    yield server
    server.stop()


def json_lines(output: str) -> list[dict]:
    """Every line the service logged; gunicorn's own lines stay plain text ("[date] [pid] ...")
    and it writes no access line of its own: the service's request line says it all."""
    lines = []
    for text in output.splitlines():
        if text.startswith("{"):
            lines.append(json.loads(text))
        else:
            assert text.startswith("["), text
    return lines


def upgrade(server, request_id: str) -> tuple[dict, list[dict]]:
    """POST /upgrade with ``request_id``; its answer and the lines logged with that id."""
    answer = server.post("/upgrade", headers={"X-Request-Id": request_id})
    assert answer.status_code == 200 and answer.headers["X-Request-Id"] == request_id
    lines = json_lines(server.output())
    assert FULL not in server.output()
    return answer.json(), [line for line in lines if line.get("request_id") == request_id]


def test_a_request_is_one_line(server):
    result, lines = upgrade(server, "deploy-42")
    requests = [line for line in lines if line.get("event") == "request"]
    assert len(requests) == 1
    request = requests[0]
    assert request["method"] == "POST" and request["path"] == "/upgrade"
    assert request["status"] == 200 and request["duration_ms"] > 0
    assert request["actor"] == "tester" and request["level"] == "INFO"
    assert request["operation_id"] == result["operation_id"]
    assert datetime.fromisoformat(request["time"]).tzinfo == UTC


@pytest.mark.parametrize(
    "created",
    # a second; the next, rounding up into the one after; back (threads log out of order)
    [1764000000.0, 1764000000.123, 1764000001.9999996, 1764000000.5, 1893456000.042],
)
def test_the_time_is_iso_8601_utc_to_the_millisecond(created):
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert logs._timestamp(created) == expected


def test_each_revision_is_one_line_with_the_request_and_operation(server):
    result, lines = upgrade(server, "deploy-43")
    revisions = [line for line in lines if line.get("event") == "revision"]
    assert [line["revision"] for line in revisions] == list(ALL)
    assert [line["revision"] for line in revisions] == [s["revision"] for s in result["applied"]]
    for line in revisions:
        assert line["operation_id"] == result["operation_id"]
        assert line["actor"] == "tester" and line["duration_ms"] >= 0


def test_a_failed_migration_is_one_error_line_an_operator_can_act_on(server, migrations):
    migrations.add(
        "ffff00000009",
        ALL[-1],
        message="breaks",
        upgrade="op.execute('SELECT * FROM no_such_table')",
    )
    answer = server.post("/upgrade", headers={"X-Request-Id": "deploy-45"})
    assert answer.status_code == 422
    problem = answer.json()
    # The detail reads as sentences, whatever the driver's message ended with.
    assert ": no such table: no_such_table. " in problem["detail"]
    lines = [line for line in json_lines(server.output()) if line["level"] == "ERROR"]
    assert len(lines) == 1, lines
    (line,) = lines
    assert line["event"] == "operation_failed" and line["request_id"] == "deploy-45"
    assert line["operation_id"] == problem["operation_id"]
    assert line["revision"] == "ffff00000009" and "no_such_table" in line["error"]
    assert "ffff00000009" in line["message"] and problem["operation_id"] in line["message"]


def test_a_revision_record_is_formatted_with_its_request(app, capsys):
    # What the runner's line will look like, through the handler the factory installs.
    with app.test_request_context(headers={"X-Request-Id": "deploy-44"}):
        g.actor = "deployer"
        logging.getLogger("api.service.runner").info(
            "applied revision %s",
            "aaaa00000001",
            extra={
                "event": "revision",
                "revision": "aaaa00000001",
                "duration_ms": 2.5,
                "operation_id": "op-1",
            },
        )
    (line,) = json_lines(capsys.readouterr().err)
    assert line["message"] == "applied revision aaaa00000001"
    assert line["logger"] == "api.service.runner"
    assert {k: line[k] for k in ("event", "revision", "duration_ms", "operation_id")} == {
        "event": "revision",
        "revision": "aaaa00000001",
        "duration_ms": 2.5,
        "operation_id": "op-1",
    }
    assert line["request_id"] == "deploy-44" and line["actor"] == "deployer"


def test_a_request_id_is_made_up_when_the_callers_is_missing_or_unfit(server):
    plain = server.get("/current")
    unfit = server.get("/current", headers={"X-Request-Id": "x" * 200})
    odd = server.get("/current", headers={"X-Request-Id": 'a"b'})
    given = {plain.headers["X-Request-Id"], unfit.headers["X-Request-Id"]}
    given.add(odd.headers["X-Request-Id"])
    assert len(given) == 3 and all(len(rid) == 32 for rid in given)

    logged = {
        line["request_id"]
        for line in json_lines(server.output())
        if line.get("event") == "request" and line["path"] == "/current"
    }
    assert logged == given
