"""Every failure a pipeline must tell apart: status, problem body, and the database after it."""

from __future__ import annotations

import time

import pytest

from api import create_app, db
from tests.databases import tables, version_rows
from tests.revision_graph import ALL, BASE, TIP, alembic_init, table
from tests.tokens import authorized

FAILING = "ffff00000007"


def assert_problem(r, status: int, slug: str) -> dict:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.content_type == "application/problem+json"
    problem = r.get_json()
    assert problem["type"] == f"urn:migrateway:problem:{slug}"
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert "Traceback" not in r.get_data(as_text=True)
    return problem


def test_a_migration_that_raises_names_the_revision_and_where_the_database_is(
    client, migrations, database_url
):
    migrations.add(
        FAILING,
        TIP,
        message="breaks",
        upgrade="op.create_table('t_partial', sa.Column('id', sa.Integer))\n"
        "raise RuntimeError('boom in revision')",
    )
    problem = assert_problem(client.post("/upgrade"), 422, "migration-failed")
    assert problem["failed_revision"] == FAILING
    assert "RuntimeError: boom in revision" in problem["error"]
    assert problem["from"] == []
    assert problem["current"] == [TIP]
    assert [s["revision"] for s in problem["completed"]][-1] == TIP
    assert len(problem["completed"]) == len(ALL)
    # What the answer says is what the database holds.
    assert version_rows(database_url) == {TIP}
    assert {table(r) for r in ALL} <= tables(database_url)


def test_a_chain_rolled_back_whole_lists_nothing_as_completed(
    tmp_path, database_url, postgresql_only
):
    """`alembic init -t generic` runs the whole chain in one transaction: on PostgreSQL a
    failing revision undoes the ones before it, so none of them is reported as completed."""
    migrations = alembic_init(tmp_path / "project")
    migrations.add("0001", None, message="create t")
    migrations.add(
        "0002",
        "0001",
        message="breaks",
        upgrade="op.create_table('t_partial', sa.Column('id', sa.Integer))\n"
        "raise RuntimeError('boom in revision')",
    )
    app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
    client = authorized(app.test_client())
    problem = assert_problem(client.post("/upgrade"), 422, "migration-failed")
    assert problem["failed_revision"] == "0002"
    assert problem["completed"] == [] and problem["current"] == []
    assert problem["partial_possible"] is False and "stamp" not in problem["detail"]
    (op,) = client.get("/operations").get_json()["items"]
    assert op["status"] == "failed" and op["steps"] == [] and op["to"] == []
    # The database holds nothing of the chain, 0001 included.
    assert tables(database_url) == set() and version_rows(database_url) == set()
    with app.app_context():
        db.engine.dispose()


def test_a_failing_statement_is_reported_without_sql_parameters(client, migrations, database_url):
    migrations.add(
        FAILING,
        TIP,
        message="bad sql",
        upgrade="op.execute(sa.text('INSERT INTO no_such_table VALUES (:v)')"
        ".bindparams(v='s3cr3t-value'))",
    )
    client.post("/upgrade", json={"target": TIP})
    r = client.post("/upgrade")
    problem = assert_problem(r, 422, "migration-failed")
    assert problem["failed_revision"] == FAILING
    assert problem["current"] == [TIP]
    text = r.get_data(as_text=True)
    assert "s3cr3t-value" not in text and "[SQL:" not in text


def test_upgrade_to_head_with_several_heads_is_409(client, migrations, database_url):
    migrations.add(FAILING, BASE, message="second line")
    problem = assert_problem(
        client.post("/upgrade", json={"target": "head"}), 409, "multiple-heads"
    )
    assert problem["heads"] == sorted([TIP, FAILING])
    assert tables(database_url) == set()
    # "heads" is the explicit way to upgrade every branch.
    r = client.post("/upgrade", json={"target": "heads"})
    assert r.status_code == 200
    assert version_rows(database_url) == {TIP, FAILING}


@pytest.mark.usefixtures("sqlite_only")
class TestBadInput:
    def test_unknown_revision_is_404(self, client, database_url):
        problem = assert_problem(
            client.post("/upgrade", json={"target": "abcdef123456"}), 404, "unknown-revision"
        )
        assert problem["revision"] == "abcdef123456"
        assert tables(database_url) == set()

    def test_ambiguous_target(self, client):
        problem = assert_problem(
            client.post("/upgrade", json={"target": "aaaa0000"}), 400, "ambiguous-revision"
        )
        assert len(problem["candidates"]) == 2

    def test_malformed_json_is_400(self, client):
        r = client.post("/upgrade", data='{"target": ', content_type="application/json")
        assert_problem(r, 400, "invalid-request")

    def test_unknown_field_is_400(self, client):
        problem = assert_problem(
            client.post("/upgrade", json={"target": "head", "force": True}), 400, "invalid-request"
        )
        assert problem["errors"] == {"force": ["Unknown field."]}

    @pytest.mark.parametrize(
        "body",
        [
            [],
            "head",
            {"target": 5},
            {"target": "head; DROP TABLE x"},
            {"sql": "yes"},
            {"target": ""},
        ],
    )
    def test_wrong_shapes_are_400(self, client, body):
        assert_problem(client.post("/upgrade", json=body), 400, "invalid-request")

    def test_downgrade_needs_an_explicit_target(self, client):
        problem = assert_problem(client.post("/downgrade", json={}), 400, "invalid-request")
        assert "target" in problem["errors"]
        assert_problem(client.post("/downgrade"), 400, "invalid-request")

    def test_body_that_is_not_json_is_415(self, client):
        r = client.post(
            "/upgrade", data="target=head", content_type="application/x-www-form-urlencoded"
        )
        assert_problem(r, 415, "unsupported-media-type")

    def test_oversized_body_is_413(self, client):
        r = client.post("/upgrade", data="{" + " " * 100_000 + "}", content_type="application/json")
        assert_problem(r, 413, "request-entity-too-large")

    def test_unknown_url_and_method(self, client):
        assert_problem(client.get("/nowhere"), 404, "not-found")
        r = client.get("/upgrade")
        assert_problem(r, 405, "method-not-allowed")
        assert "POST" in r.headers["Allow"]


def test_unreachable_database_is_503_quickly(migrations):
    app = create_app(
        {
            "DATABASE_URL": "postgresql://admin:pa55word@127.0.0.1:1/nowhere",
            "MIGRATIONS_DIR": str(migrations.path),
        }
    )
    client = authorized(app.test_client())
    for method, url in (("get", "/current"), ("get", "/revisions"), ("post", "/upgrade")):
        start = time.monotonic()
        r = getattr(client, method)(url)
        assert time.monotonic() - start < 10
        problem = assert_problem(r, 503, "database-unavailable")
        assert r.headers["Retry-After"]
        assert "pa55word" not in r.get_data(as_text=True)
        assert "127.0.0.1" in problem["detail"]


def test_a_migrations_directory_that_does_not_load_is_503(tmp_path, sqlite_only):
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "MIGRATIONS_DIR": str(tmp_path / "missing")}
    )
    r = authorized(app.test_client()).get("/revisions")
    assert_problem(r, 503, "migrations-unavailable")


def test_a_revision_file_with_a_syntax_error_is_503(client, migrations, sqlite_only):
    (migrations.path / "versions" / "broken.py").write_text("revision = 'x'\ndef (:\n")
    assert_problem(client.get("/revisions"), 503, "migrations-unavailable")


def test_a_file_broken_below_its_header_is_listed_but_never_run(
    client, migrations, database_url, sqlite_only
):
    """Reads take a plain header as text; the first write imports every file and refuses
    with 503 before it takes the lock or touches the database."""
    broken = migrations.add("ffff00000007", TIP, message="broken body")
    broken.write_text(broken.read_text().replace("def upgrade():", "def upgrade(:"))
    page = client.get("/revisions").get_json()
    assert page["items"][0]["revision"] == "ffff00000007"
    for body in ({"target": "heads"}, {"target": "heads", "sql": True}):
        problem = assert_problem(client.post("/upgrade", json=body), 503, "migrations-unavailable")
        assert "SyntaxError" in problem["detail"]
    assert version_rows(database_url) == set()
    assert client.get("/operations").get_json()["total"] == 0
