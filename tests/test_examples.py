"""What Swagger UI offers a person: request examples that work as shown, an optional upgrade
body, each error status's own example, and the clear answers to what a person tries next."""

from __future__ import annotations

import inspect

import pytest

from api import exceptions
from api.openapi import served_spec
from tests.databases import version_rows
from tests.revision_graph import FEATURE, MAIN, MERGE, TIP

WRITES = ("/upgrade", "/downgrade", "/stamp")


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield path, method, operation


def _body(spec, path):
    (param,) = [p for p in spec["paths"][path]["post"]["parameters"] if p["in"] == "body"]
    return param, spec["definitions"][param["schema"]["$ref"].rpartition("/")[2]]


@pytest.mark.usefixtures("sqlite_only")
def test_only_the_upgrade_body_may_be_left_out(app):
    spec = served_spec(app)
    assert {path: _body(spec, path)[0]["required"] for path in WRITES} == {
        "/upgrade": False,
        "/downgrade": True,
        "/stamp": True,
    }


def test_each_write_example_works_as_shown(app, client, database_url):
    """The body "Try it out" pre-fills, sent as it is: upgrade, then downgrade, then stamp."""
    spec = served_spec(app)
    examples = {path: _body(spec, path)[1]["example"] for path in WRITES}
    assert all("expected_current" not in example for example in examples.values())

    r = client.post("/upgrade", json=examples["/upgrade"])
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["to"] == [TIP]
    r = client.post("/downgrade", json=examples["/downgrade"])
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["to"] == [MERGE]
    r = client.post("/stamp", json=examples["/stamp"])
    assert r.status_code == 200, r.get_json()
    assert version_rows(database_url) == {TIP}


def test_expected_current_takes_revision_ids_not_symbols(client, database_url):
    assert client.post("/upgrade").status_code == 200
    for symbol in ("head", "heads", "base", "feature@head", "-1"):
        r = client.post("/downgrade", json={"target": "base", "expected_current": [symbol]})
        assert r.status_code == 400, (symbol, r.get_json())
        assert r.get_json()["type"].endswith(":invalid-request")
        assert "GET /current" in str(r.get_json()["errors"]["expected_current"])
    assert version_rows(database_url) == {TIP}
    # The ids GET /current lists are what it takes.
    current = client.get("/current").get_json()["current"]
    r = client.post("/upgrade", json={"expected_current": current})
    assert r.status_code == 200, r.get_json()


def _problem_kinds():
    problems = [k for k in vars(exceptions).values() if inspect.isclass(k)]
    return {k.slug: k.status for k in problems if issubclass(k, exceptions.Problem) and k.slug} | {
        "request-entity-too-large": 413
    }


@pytest.mark.usefixtures("sqlite_only")
def test_each_problem_status_shows_its_own_type(app):
    spec = served_spec(app)
    known = _problem_kinds()
    for path, method, operation in _operations(spec):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            example = response["schema"]["example"]
            slug = example["type"].rpartition(":")[2]
            where = f"{method.upper()} {path} {status}"
            assert known.get(slug) == int(status) == example["status"], where
            assert f"`{slug}`" in response["description"], where
            assert example["instance"] == path, where
    upgrade = spec["paths"]["/upgrade"]["post"]["responses"]
    firsts = {s: r["schema"]["example"]["type"] for s, r in upgrade.items() if int(s) >= 400}
    assert {s: t.rpartition(":")[2] for s, t in firsts.items()} == {
        "400": "invalid-request",
        "401": "unauthorized",
        "403": "forbidden",
        "404": "unknown-revision",
        "409": "locked",
        "412": "precondition-failed",
        "413": "request-entity-too-large",
        "415": "unsupported-media-type",
        "422": "migration-failed",
        "503": "database-unavailable",
    }
    one_operation = spec["paths"]["/operations/{operation_id}"]["get"]["responses"]["404"]
    assert one_operation["schema"]["example"]["type"].endswith(":unknown-operation")


def test_a_step_down_from_a_merge_point_names_the_revisions_to_choose(client, database_url):
    assert client.post("/upgrade", json={"target": MERGE}).status_code == 200

    r = client.post("/downgrade", json={"target": "-1"})
    assert r.status_code == 409, r.get_json()
    problem = r.get_json()
    assert problem["type"].endswith(":revision-conflict")
    assert problem["current"] == [MERGE]
    assert sorted(problem["candidates"]) == sorted([MAIN, FEATURE])
    assert "merge point" in problem["detail"]
    assert MAIN in problem["detail"] and FEATURE in problem["detail"]
    assert version_rows(database_url) == {MERGE}

    # Either choice reverts the merge alone, as the detail says.
    r = client.post("/downgrade", json={"target": FEATURE})
    assert r.status_code == 200, r.get_json()
    assert version_rows(database_url) == {MAIN, FEATURE}
