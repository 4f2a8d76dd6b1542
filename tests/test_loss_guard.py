"""The data-loss guard: a change that destroys data existing now runs only with its plan_id."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from api import create_app, db
from tests.databases import version_rows
from tests.revision_graph import MigrationsDir
from tests.tokens import authorized

USERS = "a00000000001"
NICKNAME = "a00000000002"


@pytest.fixture
def users(tmp_path, database_url):
    """A users table, then a nickname column; the users hold rows."""
    migrations = MigrationsDir(tmp_path / "migrations")
    migrations.add(
        USERS,
        message="users",
        upgrade="op.create_table('users', sa.Column('id', sa.Integer, primary_key=True), "
        "sa.Column('name', sa.String(50)))",
        downgrade="op.drop_table('users')",
    )
    migrations.add(
        NICKNAME,
        USERS,
        message="nickname",
        upgrade="op.add_column('users', sa.Column('nickname', sa.String(50)))",
        downgrade="op.drop_column('users', 'nickname')",
    )
    app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
    client = authorized(app.test_client())
    assert client.post("/upgrade").status_code == 200
    yield client
    with app.app_context():
        db.engine.dispose()


def _fill(url: str, rows: list[dict]) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (id, name, nickname) VALUES (:id, :n, :k)"), rows)
    engine.dispose()


def test_a_rollback_dropping_a_filled_column_is_refused_then_runs_with_its_plan(
    users, database_url
):
    _fill(database_url, [{"id": 1, "n": "ada", "k": "countess"}, {"id": 2, "n": "bob", "k": None}])

    r = users.post("/downgrade", json={"target": "-1"})
    assert r.status_code == 409 and r.content_type == "application/problem+json"
    problem = r.get_json()
    assert problem["type"] == "urn:migrateway:problem:unacknowledged-data-loss"
    (loss,) = [f for f in problem["findings"] if f["blocking"]]
    assert loss["code"] == "DS103" and loss["table"] == "users" and loss["column"] == "nickname"
    assert loss["revision"] == NICKNAME
    assert loss["facts"]["has_values"] is True and loss["facts"]["rows_estimate"] == 2
    assert "users.nickname" in problem["detail"] and "Nothing ran" in problem["detail"]
    assert version_rows(database_url) == {NICKNAME}  # nothing changed
    # Asked not to wait, the refusal is still the answer: it comes before anything is recorded.
    late = users.post("/downgrade", json={"target": "-1"}, headers={"Prefer": "respond-async"})
    assert late.status_code == 409 and late.get_json()["plan_id"] == problem["plan_id"]
    assert users.get("/operations").get_json()["total"] == 1  # the refusals ran nothing

    plan = users.post("/plan", json={"action": "downgrade", "target": "-1"}).get_json()
    assert plan["plan_id"] == problem["plan_id"]
    assert [s["revision"] for s in plan["steps"]] == [NICKNAME]
    assert "DROP COLUMN nickname" in plan["steps"][0]["sql"]

    r = users.post("/downgrade", json={"target": "-1", "plan_id": plan["plan_id"]})
    assert r.status_code == 200, r.get_json()
    assert version_rows(database_url) == {USERS}
    op = users.get(f"/operations/{r.get_json()['operation_id']}").get_json()
    assert op["acknowledged"]["plan_id"] == plan["plan_id"]
    assert [f["column"] for f in op["acknowledged"]["findings"]] == ["nickname"]
    assert op["actor"] == "tester"


def test_a_stale_plan_id_is_refused(users, database_url):
    _fill(database_url, [{"id": 1, "n": "ada", "k": "countess"}])
    stale = users.post("/plan", json={"action": "downgrade", "target": "base"}).get_json()
    reviewed = _plan(users)
    assert users.post("/downgrade", json={"target": "-1", "plan_id": reviewed}).status_code == 200

    r = users.post("/downgrade", json={"target": "base", "plan_id": stale["plan_id"]})
    assert r.status_code == 412 and "plan_id" not in r.get_json()  # ask again, and review
    assert version_rows(database_url) == {USERS}


def _plan(client) -> str:
    return client.post("/plan", json={"action": "downgrade", "target": "-1"}).get_json()["plan_id"]


def test_dropping_an_empty_column_runs_without_acknowledgement(users, database_url):
    _fill(database_url, [{"id": 1, "n": "ada", "k": None}])
    r = users.post("/downgrade", json={"target": "-1"})
    assert r.status_code == 200, r.get_json()
    assert version_rows(database_url) == {USERS}
    # The table itself holds a row: dropping it is refused.
    assert users.post("/downgrade", json={"target": "base"}).status_code == 409


def test_a_drop_behind_a_helper_function_is_still_caught(tmp_path, database_url):
    """The guard skips rendering only steps whose code provably creates; a drop it cannot see
    in the step's own code (a helper) is rendered and found."""
    migrations = MigrationsDir(tmp_path / "migrations")
    migrations.add(USERS, upgrade="op.create_table('users', sa.Column('id', sa.Integer))")
    path = migrations.add(
        NICKNAME,
        USERS,
        upgrade="_forget('users')",
        downgrade="op.create_table('users', sa.Column('id', sa.Integer))",
    )
    path.write_text(path.read_text() + "\n\ndef _forget(name):\n    op.drop_table(name)\n")
    app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
    client = authorized(app.test_client())
    try:
        assert client.post("/upgrade", json={"target": USERS}).status_code == 200
        engine = sa.create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO users (id) VALUES (1)"))
        engine.dispose()

        r = client.post("/upgrade")
        assert r.status_code == 409, r.get_json()
        (loss,) = r.get_json()["findings"]
        assert (loss["code"], loss["table"], loss["blocking"]) == ("DS102", "users", True)
        assert version_rows(database_url) == {USERS}
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_plan_id_is_checked_whole(users):
    r = users.post("/downgrade", json={"target": "-1", "plan_id": "0" * 32 + "\n"})
    assert r.status_code == 400 and "plan_id" in r.get_json()["errors"]
