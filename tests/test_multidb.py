"""Several databases: a Flask-SQLAlchemy app with binds (`flask db init --multidb`). Every bind is
upgraded, downgraded, stamped and rendered on its own database, under the lock of each, and
GET /current reports each. Binds named by other means: tests/test_multidb_config.py."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from api import create_app, db
from api.service.lock import migration_lock
from tests import databases
from tests.tokens import authorized

DEFAULT_TABLES = {"order", "invoice"}
USERS_TABLES = {"account", "profile"}


def _start(migrations, database_url, users_url):
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "MIGRATIONS_DIR": str(migrations),
            "SQLALCHEMY_BINDS": {"users": users_url},
        }
    )
    return app, authorized(app.test_client())


@pytest.fixture
def multidb(shop, database_url, users_url, tmp_path):
    """The shop's migrations on two fresh databases; yields (client, first, second)."""
    app, client = _start(shop.copy(tmp_path / "migrations"), database_url, users_url)
    yield client, *shop.revisions
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


def _owned(url: str) -> set[str]:
    """The application's tables in a database (not the version table, not the log's)."""
    return databases.tables(url) & (DEFAULT_TABLES | USERS_TABLES)


def _revisions(*steps) -> list[str]:
    return [step["revision"] for step in steps]


def test_upgrade_migrates_every_bind_on_its_own_database(multidb, database_url, users_url):
    client, first, second = multidb
    key = {"Idempotency-Key": "deploy-1"}
    r = client.post("/upgrade", json={"target": "head"}, headers=key)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    replayed = client.post("/upgrade", json={"target": "head"}, headers=key)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.get_json()["binds"] == body["binds"]
    assert body["from"] == [] and body["to"] == [second]
    # The top level is the default bind's: each revision once, not once per bind.
    assert _revisions(*body["applied"]) == [first, second]
    assert set(body["binds"]) == {"default", "users"}
    for name in ("default", "users"):
        bind = body["binds"][name]
        assert bind["from"] == [] and bind["to"] == [second]
        assert _revisions(*bind["steps"]) == [first, second]
    assert _owned(database_url) == DEFAULT_TABLES
    assert _owned(users_url) == USERS_TABLES
    assert databases.version_rows(database_url) == {second}
    assert databases.version_rows(users_url) == {second}

    current = client.get("/current").get_json()
    assert current["up_to_date"] is True and current["current"] == [second]
    assert current["binds"] == {
        "default": {"current": [second], "up_to_date": True, "pending": []},
        "users": {"current": [second], "up_to_date": True, "pending": []},
    }
    op = client.get(f"/operations/{body['operation_id']}").get_json()
    assert op["status"] == "succeeded"
    assert op["binds"]["users"]["to"] == [second]
    assert op["progress"]["done"] == 4  # two revisions on each of two databases
    # Each bind's step has the digest of the SQL it ran there (its own upgrade_<bind>()).
    checks = {(c["bind"], c["revision"]): c for c in client.get("/verify").json["revisions"]}
    assert all(len(c["sql_digest"]) == 64 and c["dialect"] for c in checks.values()), checks
    assert checks["default", first]["sql_digest"] != checks["users", first]["sql_digest"]


def test_downgrade_and_stamp_every_bind(multidb, database_url, users_url):
    client, first, second = multidb
    assert client.post("/upgrade", json={}).status_code == 200
    r = client.post("/downgrade", json={"target": "-1"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert _revisions(*body["reverted"]) == [second]
    assert _revisions(*body["binds"]["users"]["steps"]) == [second]
    assert body["binds"]["users"]["to"] == [first]
    assert _owned(database_url) == {"order"}
    assert _owned(users_url) == {"account"}
    assert databases.version_rows(database_url) == {first}
    assert databases.version_rows(users_url) == {first}
    assert _verified(client) == {("default", first, "ok"), ("users", first, "ok")}

    r = client.post("/stamp", json={"target": second})
    assert r.status_code == 200, r.get_json()
    assert {name: bind["to"] for name, bind in r.get_json()["binds"].items()} == {
        "default": [second],
        "users": [second],
    }
    assert databases.version_rows(database_url) == {second}
    assert databases.version_rows(users_url) == {second}
    assert _owned(users_url) == {"account"}  # a stamp runs nothing
    # Each bind keeps its own record of what it applied (or was stamped at).
    assert _verified(client) == {
        (b, r, "ok") for b in ("default", "users") for r in (first, second)
    }


def _verified(client) -> set[tuple[str, str, str]]:
    return {
        (c["bind"], c["revision"], c["status"]) for c in client.get("/verify").json["revisions"]
    }


def test_current_shows_the_bind_that_lags_and_upgrade_moves_it_alone(
    multidb, database_url, users_url
):
    client, first, second = multidb
    assert client.post("/upgrade", json={}).status_code == 200
    # Undo the second revision on the users database by hand.
    engine = sa.create_engine(users_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE profile"))
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": first})
    engine.dispose()

    current = client.get("/current").get_json()
    assert current["up_to_date"] is False
    assert current["current"] == [second]  # the default database's
    assert current["binds"]["default"] == {"current": [second], "up_to_date": True, "pending": []}
    assert current["binds"]["users"] == {
        "current": [first],
        "up_to_date": False,
        "pending": [second],
    }

    r = client.post("/upgrade", json={})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["applied"] == [] and body["binds"]["default"]["steps"] == []
    assert _revisions(*body["binds"]["users"]["steps"]) == [second]
    assert _owned(users_url) == USERS_TABLES
    assert client.get("/current").get_json()["up_to_date"] is True


def test_a_write_waits_for_the_lock_of_every_database(multidb, database_url, users_url):
    client, first, second = multidb
    users = sa.create_engine(users_url)
    try:
        # Another migration holds the users database alone: nothing may start on either.
        with migration_lock(users, 0):
            r = client.post("/upgrade", json={"lock_timeout": 0.2})
            assert r.status_code == 409, r.get_json()
            assert r.get_json()["type"].endswith(":locked")
        assert databases.version_rows(database_url) == set()
        assert _owned(database_url) == set()
        assert client.post("/upgrade", json={"lock_timeout": 0.2}).status_code == 200
    finally:
        users.dispose()


def test_dry_run_returns_each_binds_sql_and_writes_no_file(
    multidb, database_url, users_url, tmp_path, monkeypatch
):
    client, first, second = multidb
    assert client.post("/upgrade", json={"target": first}).status_code == 200
    # The templates write "<name>.sql" into the working directory: make it one we can watch.
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)

    r = client.post("/upgrade", json={"sql": True})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    users_sql, default_sql = body["binds"]["users"]["sql"], body["binds"]["default"]["sql"]
    assert body["sql"] == default_sql
    assert "invoice" in default_sql and "profile" not in default_sql
    assert "profile" in users_sql and "invoice" not in users_sql
    # Each from its own database's revision: not from base.
    assert "account" not in users_sql and "CREATE TABLE alembic_version" not in users_sql
    assert first in users_sql and first in default_sql
    assert list(workdir.iterdir()) == []
    assert databases.version_rows(users_url) == {first}
    assert _owned(users_url) == {"account"}


def test_a_failing_revision_names_its_bind_and_where_each_bind_is(
    shop, database_url, users_url, tmp_path, backend
):
    migrations = shop.copy(tmp_path / "migrations")
    first, second = shop.revisions
    path = shop.script(migrations, second)
    text = path.read_text()
    marker = "def upgrade_users():\n"
    failing = "    op.execute('SELECT * FROM no_such_table')\n"
    path.write_text(text.replace(marker, marker + failing))
    app, client = _start(migrations, database_url, users_url)
    try:
        r = client.post("/upgrade", json={})
        assert r.status_code == 422, r.get_json()
        assert r.mimetype == "application/problem+json"
        problem = r.get_json()
        assert problem["bind"] == "users" and problem["failed_revision"] == second
        assert "bind 'users'" in problem["detail"]
        # Where each database is, as each one says.
        for name, url in (("default", database_url), ("users", users_url)):
            assert set(problem["binds"][name]["current"]) == databases.version_rows(url), name
        assert problem["current"] == problem["binds"]["default"]["current"]
        if backend == "postgresql":  # env.py rolls every database back together
            assert problem["binds"]["users"]["current"] == []
            assert _owned(database_url) == _owned(users_url) == set()
        op = client.get(f"/operations/{problem['operation_id']}").get_json()
        assert op["status"] == "failed" and set(op["binds"]) == {"default", "users"}
    finally:
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()
