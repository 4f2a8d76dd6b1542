"""POST /plan: each step's SQL from where the database is, its findings, and a plan_id that
names exactly this plan. Nothing runs."""

from __future__ import annotations

import pytest

from api import create_app, db
from tests.databases import tables, version_rows
from tests.revision_graph import MigrationsDir
from tests.tokens import READER, authorized

USERS, NOTES, KEEPS, REFUSES = "b00000000001", "b00000000002", "b00000000003", "b00000000004"


@pytest.fixture
def project(tmp_path, database_url):
    """users; notes; a revision whose downgrade does nothing; one whose downgrade refuses."""
    migrations = MigrationsDir(tmp_path / "migrations")
    migrations.add(USERS, message="users", upgrade=_create("users"), downgrade=_drop("users"))
    migrations.add(NOTES, USERS, upgrade=_create("notes"), downgrade=_drop("notes"))
    migrations.add(KEEPS, NOTES, message="keeps", upgrade=_create("audit"), downgrade="pass")
    migrations.add(
        REFUSES,
        KEEPS,
        message="refuses",
        upgrade=_create("ledger"),
        downgrade="raise NotImplementedError('the ledger stays')",
    )
    app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
    yield migrations, authorized(app.test_client())
    with app.app_context():
        db.engine.dispose()


def _create(name: str) -> str:
    return f"op.create_table({name!r}, sa.Column('id', sa.Integer, primary_key=True))"


def _drop(name: str) -> str:
    return f"op.drop_table({name!r})"


def test_a_plan_shows_each_step_from_where_the_database_is(project, database_url):
    migrations, client = project
    assert client.post("/upgrade", json={"target": USERS}).status_code == 200

    r = authorized(client.application.test_client(), READER).post(
        "/plan", json={"action": "upgrade", "target": "head"}
    )
    assert r.status_code == 200, r.get_json()
    plan = r.get_json()
    assert (plan["action"], plan["from"], plan["to"]) == ("upgrade", [USERS], [REFUSES])
    assert [s["revision"] for s in plan["steps"]] == [NOTES, KEEPS, REFUSES]
    assert {s["direction"] for s in plan["steps"]} == {"upgrade"}
    notes, keeps, refuses = plan["steps"]
    # Each step's SQL alone: the notes step creates notes and nothing else.
    assert "CREATE TABLE notes" in notes["sql"] and "audit" not in notes["sql"]
    assert "CREATE TABLE users" not in "".join(s["sql"] for s in plan["steps"])
    # What cannot be undone, said before it runs.
    assert [f["code"] for f in keeps["findings"]] == ["AL101"]
    assert [f["code"] for f in refuses["findings"]] == ["AL102"]
    assert notes["findings"] == []
    assert sorted(f["code"] for f in plan["findings"]) == ["AL101", "AL102"]
    assert plan["blocking"] == 0
    # Nothing ran, nothing was recorded.
    assert version_rows(database_url) == {USERS} and "notes" not in tables(database_url)
    assert client.get("/operations").get_json()["total"] == 1


def test_the_plan_id_moves_with_the_database_and_the_files(project):
    migrations, client = project
    ask = {"action": "upgrade", "target": "head"}
    first = client.post("/plan", json=ask).get_json()["plan_id"]
    assert client.post("/plan", json=ask).get_json()["plan_id"] == first
    assert client.post("/plan", json={**ask, "undo": False}).get_json()["plan_id"] == first

    path = next(migrations.path.glob(f"versions/{NOTES}_*.py"))
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))  # another OS's checkout
    assert client.post("/plan", json=ask).get_json()["plan_id"] == first
    path.write_text(path.read_text().replace("'notes'", "'memos'"))
    edited = client.post("/plan", json=ask).get_json()["plan_id"]
    assert edited != first

    assert client.post("/upgrade", json={"target": USERS}).status_code == 200
    assert client.post("/plan", json=ask).get_json()["plan_id"] not in (first, edited)


def test_a_rollback_plan_says_where_it_stops_and_what_it_leaves(project):
    _, client = project
    assert client.post("/upgrade").status_code == 200
    plan = client.post("/plan", json={"action": "downgrade", "target": "base"}).get_json()
    steps = {s["revision"]: s for s in plan["steps"]}
    assert [s["revision"] for s in plan["steps"]] == [REFUSES, KEEPS, NOTES, USERS]
    (refused,) = steps[REFUSES]["findings"]
    assert refused["code"] == "AL102" and refused["severity"] == "error"
    assert [f["code"] for f in steps[KEEPS]["findings"]] == ["AL101"]
    dropped = steps[NOTES]["findings"]
    assert [(f["code"], f["table"], f["blocking"]) for f in dropped] == [("DS102", "notes", False)]
    assert dropped[0]["facts"] == {"exists": True, "has_rows": False, "rows_estimate": 0}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "upgrade", "plan_id": "x"}, "plan_id"),
        ({"action": "sideways", "target": "head"}, "action"),
        ({"target": "head"}, "action"),
        ({"action": "upgrade", "target": "head; DROP"}, "target"),
    ],
)
def test_a_bad_plan_request_is_a_clear_400(client, body, field, sqlite_only):
    r = client.post("/plan", json=body)
    assert r.status_code == 400 and r.content_type == "application/problem+json"
    assert field in r.get_json()["errors"]


def test_a_step_that_needs_the_database_is_named_and_does_not_stop_the_change(
    tmp_path, database_url, backend
):
    """A data migration reads from the database, which offline rendering cannot: the plan says
    its SQL is not shown (AL103; on a SQLite file it is run on a copy instead), and the guard
    lets the change run as it always did."""
    migrations = MigrationsDir(tmp_path / "migrations")
    migrations.add(USERS, upgrade=_create("users"), downgrade="op.drop_table('users')")
    migrations.add(
        NOTES,
        USERS,
        upgrade="n = op.get_bind().execute(sa.text('SELECT count(*) FROM users')).scalar()\n"
        "op.execute(sa.text(f'INSERT INTO users (id) VALUES ({n + 7})'))",
        downgrade="op.execute(sa.text('DELETE FROM users WHERE id = 7'))",
    )
    app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
    client = authorized(app.test_client())
    try:
        assert client.post("/upgrade", json={"target": USERS}).status_code == 200
        plan = client.post("/plan", json={"action": "upgrade"}).get_json()
        (step,) = plan["steps"]
        codes = [f["code"] for f in step["findings"]]
        if backend == "sqlite":
            assert codes == [] and "INSERT INTO users" in step["sql"]
        else:
            assert codes == ["AL103"] and "INSERT" not in step["sql"]
        r = client.post("/upgrade")
        assert r.status_code == 200, r.get_json()
        assert version_rows(database_url) == {NOTES}
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_concurrent_index_inside_the_revisions_transaction_is_found_before_it_fails(
    tmp_path, database_url, postgresql_only
):
    """postgresql_concurrently=True without op.get_context().autocommit_block(): the plan says
    PostgreSQL will refuse it (PG103), and running it fails as said. (In the block it has no
    finding, and runs: tests/test_plan_findings.py, tests/test_ddl_concurrent_index.py.)"""
    migrations = MigrationsDir(tmp_path / "migrations")
    migrations.add(USERS, upgrade=_create("users"), downgrade=_drop("users"))
    index = "op.create_index('ix_users_id', 'users', ['id'], postgresql_concurrently=True)"
    migrations.add(NOTES, USERS, message="index", upgrade=index, downgrade="pass")
    app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
    client = authorized(app.test_client())
    try:
        assert client.post("/upgrade", json={"target": USERS}).status_code == 200
        plan = client.post("/plan", json={"action": "upgrade", "undo": False}).get_json()
        (step,) = plan["steps"]
        (finding,) = step["findings"]
        assert (finding["code"], finding["severity"], finding["table"]) == (
            "PG103",
            "error",
            "users",
        )
        assert "autocommit_block" in finding["detail"]
        r = client.post("/upgrade")
        assert r.status_code == 422, r.get_json()
        assert "cannot run inside a transaction block" in r.get_json()["error"]
        assert version_rows(database_url) == {USERS}
    finally:
        with app.app_context():
            db.engine.dispose()


def test_each_step_is_read_on_its_own_so_a_table_made_earlier_in_the_plan_still_counts(
    tmp_path, database_url
):
    """Read as one script, the chain creates users and then drops a column of a table it has
    just made, which would risk nothing; read as each revision runs, step by step, the drop is
    a step of its own that destroys a column (on SQLite, left out of the batch copy)."""
    migrations = MigrationsDir(tmp_path / "migrations")
    users = "op.create_table('users', sa.Column('id', sa.Integer, primary_key=True), "
    migrations.add(USERS, upgrade=users + "sa.Column('name', sa.String(50)))")
    migrations.add(
        NOTES,
        USERS,
        upgrade="with op.batch_alter_table('users') as batch_op:\n    batch_op.drop_column('name')",
        downgrade="op.add_column('users', sa.Column('name', sa.String(50)))",
    )
    app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
    client = authorized(app.test_client())
    try:
        plan = client.post("/plan", json={"action": "upgrade", "undo": False}).get_json()
        assert [s["revision"] for s in plan["steps"]] == [USERS, NOTES]
        assert plan["steps"][0]["findings"] == []
        (dropped,) = plan["steps"][1]["findings"]
        assert (dropped["code"], dropped["table"], dropped["column"]) == ("DS103", "users", "name")
        # The table is not there yet: nothing exists now that the step would destroy.
        assert dropped["blocking"] is False and dropped["facts"]["exists"] is False
    finally:
        with app.app_context():
            db.engine.dispose()
