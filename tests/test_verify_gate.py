"""The integrity gate and POST /verify/accept: a chain that runs a revision whose file changed
since it was applied runs only when someone says so, and the log says who."""

from __future__ import annotations

from tests.databases import version_rows
from tests.revision_graph import BASE, FEATURE, MAIN, MERGE, SECOND, TIP
from tests.test_failures import assert_problem
from tests.tokens import DEPLOYER, bearer


def edit(migrations, rev: str) -> None:
    path = next((migrations.path / "versions").glob(f"{rev}_*.py"))
    path.write_text(path.read_text().replace("def downgrade():", "def downgrade():  # edited"))


def test_the_gate_refuses_a_changed_file_then_runs_it_when_the_request_accepts_it(
    client, migrations, database_url
):
    assert client.post("/upgrade", json={"target": TIP}).status_code == 200
    edit(migrations, MERGE)
    problem = assert_problem(
        client.post("/downgrade", json={"target": MAIN}), 409, "integrity-check-failed"
    )
    assert MERGE in problem["detail"] and "Nothing ran" in problem["detail"]
    (refused,) = problem["revisions"]
    assert refused["revision"] == MERGE and refused["status"] == "file_changed"
    assert refused["recorded_sha256"] != refused["current_sha256"]
    # Refused before anything is recorded: a caller that would not wait hears it too.
    async_call = {"Prefer": "respond-async"}
    r = client.post("/downgrade", json={"target": MAIN}, headers=async_call)
    assert_problem(r, 409, "integrity-check-failed")
    assert version_rows(database_url) == {TIP}
    # Nothing was recorded as having run.
    assert [op["kind"] for op in client.get("/operations").get_json()["items"]] == ["upgrade"]
    # A dry run changes nothing: it shows the SQL of the file as it is.
    assert client.post("/downgrade", json={"target": MAIN, "sql": True}).status_code == 200

    # Naming another revision does not do.
    r = client.post("/downgrade", json={"target": MAIN, "accept_changed": [TIP]})
    assert_problem(r, 409, "integrity-check-failed")
    r = client.post("/downgrade", json={"target": MAIN, "accept_changed": [MERGE]})
    assert r.status_code == 200, r.get_json()
    assert version_rows(database_url) == {MAIN, FEATURE}
    op = client.get(f"/operations/{r.get_json()['operation_id']}").get_json()
    assert op["actor"] == "tester"
    assert [(a["revision"], a["status"]) for a in op["accepted_changed"]] == [
        (MERGE, "file_changed")
    ]
    # An upgrade runs the edited file afresh: it is recorded as it is now.
    assert client.post("/upgrade", json={"target": TIP}).status_code == 200
    assert client.get("/verify").get_json()["ok"] is True


def test_accept_records_the_files_as_they_are_now_and_the_gate_opens(
    client, migrations, database_url
):
    assert client.post("/upgrade", json={"target": TIP}).status_code == 200
    edit(migrations, TIP)
    edit(migrations, MERGE)
    assert_problem(client.post("/downgrade", json={"target": "-1"}), 409, "integrity-check-failed")

    r = client.post("/verify/accept", json={"revisions": [TIP, MERGE[:6]]})  # a prefix does
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert [(i["revision"], i["status"]) for i in body["revisions"]] == [
        (TIP, "ok"),
        (MERGE, "ok"),
    ]
    assert all(i["accepted_by"] == "tester" and i["accepted_at"] for i in body["revisions"])
    # When and by what they were applied stays as recorded.
    first = client.get("/operations").get_json()["items"][-1]
    assert {i["operation_id"] for i in body["revisions"]} == {first["id"]}
    (op,) = [o for o in client.get("/operations").get_json()["items"] if o["kind"] == "accept"]
    assert op["id"] == body["operation_id"] and op["actor"] == "tester"
    assert op["status"] == "succeeded" and [s["revision"] for s in op["steps"]] == [TIP, MERGE]
    assert client.get("/verify").get_json()["ok"] is True

    r = client.post("/downgrade", json={"target": MAIN})
    assert r.status_code == 200, r.get_json()
    assert version_rows(database_url) == {MAIN, FEATURE}


def test_line_endings_alone_do_not_close_the_gate(client, migrations, database_url):
    assert client.post("/upgrade", json={"target": TIP}).status_code == 200
    path = next((migrations.path / "versions").glob(f"{TIP}_*.py"))
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert client.post("/downgrade", json={"target": "-1"}).status_code == 200
    assert version_rows(database_url) == {MERGE}


def test_accept_refuses_what_it_cannot_accept(client, migrations, sqlite_only):
    assert client.post("/upgrade", json={"target": SECOND}).status_code == 200
    problem = assert_problem(
        client.post("/verify/accept", json={"revisions": [TIP]}), 409, "revision-conflict"
    )
    assert "not applied" in problem["detail"]
    assert_problem(
        client.post("/verify/accept", json={"revisions": ["0123456789ab"]}), 404, "unknown-revision"
    )
    for body in ({}, {"revisions": []}, {"revisions": ["head"]}, {"revisions": "x"}):
        assert_problem(client.post("/verify/accept", json=body), 400, "invalid-request")
    # Every file above the first gone: the database's revision has no file any more.
    for path in (migrations.path / "versions").glob("*.py"):
        if not path.name.startswith(BASE):
            path.unlink()
    problem = assert_problem(
        client.post("/verify/accept", json={"revisions": [SECOND]}), 409, "revision-conflict"
    )
    assert "gone" in problem["detail"]
    # Accepting needs the stamp scope; reading /verify, the read scope.
    r = client.post("/verify/accept", json={"revisions": [BASE]}, headers=bearer(DEPLOYER))
    assert_problem(r, 403, "forbidden")
    assert client.get("/verify", headers=bearer(DEPLOYER)).status_code == 200


def test_a_downgrade_from_a_revision_whose_file_went_is_refused_naming_it(
    client, migrations, database_url
):
    assert client.post("/upgrade", json={"target": TIP}).status_code == 200
    next((migrations.path / "versions").glob(f"{TIP}_*.py")).unlink()
    # Its downgrade() is nowhere to run; naming it does not make it so.
    for body in ({"target": "-1"}, {"target": MERGE, "accept_changed": [TIP]}):
        problem = assert_problem(
            client.post("/downgrade", json=body), 409, "integrity-check-failed"
        )
        (gone,) = problem["revisions"]
        assert (gone["revision"], gone["status"]) == (TIP, "missing_file")
        assert gone["recorded_sha256"] and gone["current_sha256"] is None
        assert TIP in problem["detail"] and "Nothing ran" in problem["detail"]
    assert version_rows(database_url) == {TIP}
    assert [op["kind"] for op in client.get("/operations").get_json()["items"]] == ["upgrade"]
    # The way on without the file: a stamp past it.
    assert client.post("/stamp", json={"target": MERGE, "purge": True}).status_code == 200
    assert version_rows(database_url) == {MERGE}
