"""Several databases named by other means than SQLALCHEMY_BINDS: an Alchemical app with two
engines (DATABASE_BINDS), an application's own binds through MIGRATEWAY_APP, a DATABASE_BINDS
refused at start; and a single database, whose answers have no binds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api import create_app, db
from api.config import PROJECT_ROOT, ConfigurationError
from tests import databases, multidb_projects
from tests.apps import close_engines
from tests.servers import free_port
from tests.test_multidb import DEFAULT_TABLES, USERS_TABLES, _owned, _revisions
from tests.tokens import authorized


def test_single_database_answers_have_no_binds(client):
    assert "binds" not in client.get("/current").get_json()
    r = client.post("/upgrade", json={"target": "+1"})
    assert "binds" not in r.get_json()
    assert "binds" not in client.get(f"/operations/{r.get_json()['operation_id']}").get_json()


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    return multidb_projects.alchemical(tmp_path_factory.mktemp("store") / "project")


def test_alchemical_two_engines(store, database_url, users_url, tmp_path, monkeypatch):
    migrations = store.copy(tmp_path / "migrations")
    module = multidb_projects.alchemical_app(migrations, database_url, users_url)
    first, second = store.revisions
    # Configured as an operator would: the environment names the other database.
    monkeypatch.setenv("DATABASE_BINDS", json.dumps({"users": users_url}))
    app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations)})
    client = authorized(app.test_client())
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    try:
        r = client.post("/upgrade", json={"sql": True})
        assert r.status_code == 200, r.get_json()
        sql = r.get_json()["binds"]
        assert "account" in sql["users"]["sql"] and "account" not in sql["default"]["sql"]
        assert list(workdir.iterdir()) == []

        r = client.post("/upgrade", json={})
        assert r.status_code == 200, r.get_json()
        assert _revisions(*r.get_json()["binds"]["users"]["steps"]) == [first, second]
        assert _owned(database_url) == DEFAULT_TABLES
        assert _owned(users_url) == USERS_TABLES
        assert databases.version_rows(users_url) == {second}
        assert client.get("/current").get_json()["up_to_date"] is True

        r = client.post("/downgrade", json={"target": "base"})
        assert r.status_code == 200, r.get_json()
        assert _owned(database_url) == _owned(users_url) == set()
        assert databases.version_rows(users_url) == set()
    finally:
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()
        imported = sys.modules.pop(module, None)
        if imported is not None:
            for engine in (imported.db.engines or {}).values():
                engine.dispose()


def test_the_applications_own_binds_through_migrateway_app(
    shop, database_url, users_url, tmp_path, monkeypatch, forget_imports
):
    """The shop named as `flask --app` names it: its binds come from its own config."""
    migrations = shop.copy(tmp_path / "migrations")
    monkeypatch.syspath_prepend(str(shop.migrations.parent))
    monkeypatch.setenv("MAIN_URL", database_url)
    monkeypatch.setenv("USERS_URL", users_url)
    app = create_app({"MIGRATEWAY_APP": "shop:create_app", "MIGRATIONS_DIR": str(migrations)})
    client = authorized(app.test_client())
    first, second = shop.revisions
    try:
        assert client.get("/current").get_json()["binds"]["users"]["pending"] == [first, second]
        r = client.post("/upgrade")
        assert r.status_code == 200, r.get_json()
        assert _owned(database_url) == DEFAULT_TABLES and _owned(users_url) == USERS_TABLES
        assert databases.version_rows(users_url) == {second}

        r = client.post("/downgrade", json={"target": first, "sql": True})
        assert r.status_code == 200, r.get_json()
        sql = r.get_json()["binds"]
        assert "DROP TABLE profile" in sql["users"]["sql"]
        assert "DROP TABLE invoice" in sql["default"]["sql"]
        assert sql["users"]["to"] == [first]
        assert _owned(users_url) == USERS_TABLES  # a dry run changes nothing
    finally:
        close_engines(app)


def test_database_binds_must_name_each_database(monkeypatch):
    monkeypatch.setenv("DATABASE_BINDS", '["postgresql://x"]')
    with pytest.raises(ConfigurationError, match="DATABASE_BINDS must be a JSON object"):
        create_app({"DATABASE_URL": "sqlite://"})


def test_a_bad_database_binds_stops_gunicorn_in_one_line(tmp_path):
    gunicorn = [str(Path(sys.executable).parent / "gunicorn"), "-c", "python:api.gunicorn_conf"]
    done = subprocess.run(
        [*gunicorn, "wsgi:app"],
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}",
            "DATABASE_BINDS": "{users: nope}",
            "BIND": f"127.0.0.1:{free_port()}",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in output, output
    (line,) = [x for x in output.splitlines() if "DATABASE_BINDS" in x]
    assert line.startswith("Migrateway cannot start: DATABASE_BINDS is not JSON"), line
