"""A version table other than alembic_version: named once (VERSION_TABLE), read by every GET,
written by every write; a write is refused before it runs when env.py names another table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from api import create_app, db
from tests.databases import tables, version_rows
from tests.revision_graph import SECOND, TIP, MigrationsDir, standard_graph
from tests.tokens import authorized

CUSTOM = "deploy_versions"

# A plain Alembic env.py (no Flask, no Flask-Migrate) that names its own version table.
PLAIN_ENV = f"""
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config

if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), version_table={CUSTOM!r}, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {{}}), "sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        context.configure(connection=connection, version_table={CUSTOM!r})
        with context.begin_transaction():
            context.run_migrations()
"""


@contextmanager
def service(migrations: MigrationsDir, database_url: str, **config) -> Iterator:
    app = create_app(
        {"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path), **config}
    )
    try:
        yield authorized(app.test_client())
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def plain_migrations(tmp_path) -> MigrationsDir:
    migrations = standard_graph(tmp_path / "plain")
    (migrations.path / "env.py").write_text(PLAIN_ENV)
    return migrations


def test_the_configured_table_is_written_and_read(migrations, database_url):
    """Flask-Migrate's env.py passes the app's configure() arguments on: the setting is enough."""
    with service(migrations, database_url, VERSION_TABLE=CUSTOM) as client:
        assert client.get("/current").get_json()["current"] == []
        r = client.post("/upgrade")
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["from"] == [] and r.get_json()["to"] == [TIP]
        assert version_rows(database_url, CUSTOM) == {TIP}
        assert "alembic_version" not in tables(database_url)

        assert client.get("/current").get_json()["current"] == [TIP]
        assert client.get("/revisions/" + TIP).get_json()["applied"] is True

        sql = client.post("/downgrade", json={"target": SECOND, "sql": True}).get_json()["sql"]
        assert f"UPDATE {CUSTOM}" in sql and "alembic_version" not in sql
        r = client.post("/downgrade", json={"target": SECOND})
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["from"] == [TIP] and r.get_json()["to"] == [SECOND]
        assert version_rows(database_url, CUSTOM) == {SECOND}
        assert client.get("/current").get_json()["current"] == [SECOND]


def test_a_plain_env_py_that_names_its_table_is_served(plain_migrations, database_url):
    with service(plain_migrations, database_url, VERSION_TABLE=CUSTOM) as client:
        r = client.post("/upgrade", json={"target": SECOND})
        assert r.status_code == 200, r.get_json()
        assert version_rows(database_url, CUSTOM) == {SECOND}
        assert client.get("/current").get_json()["current"] == [SECOND]
        assert client.post("/upgrade").get_json()["from"] == [SECOND]


def test_a_write_is_refused_before_it_runs_when_env_py_names_another_table(
    plain_migrations, database_url
):
    """Else GET /current would answer from alembic_version while env.py wrote elsewhere."""
    with service(plain_migrations, database_url) as client:
        r = client.post("/upgrade")
        assert r.status_code == 422 and r.content_type == "application/problem+json"
        problem = r.get_json()
        assert problem["type"].endswith(":migration-failed")
        assert f"'{CUSTOM}'" in problem["detail"] and "VERSION_TABLE" in problem["detail"]
        assert problem["completed"] == [] and problem["partial_possible"] is False
        assert not {CUSTOM, "alembic_version", "t_" + TIP} & tables(database_url)

        (op,) = client.get("/operations").get_json()["items"]
        assert op["status"] == "failed" and "VERSION_TABLE" in op["error"]
        dry = client.post("/upgrade", json={"sql": True})
        assert dry.status_code == 422 and "VERSION_TABLE" in dry.get_json()["detail"]


def test_a_version_table_in_another_schema(migrations, database_url, postgresql_only):
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA deploy")
    engine.dispose()
    config = {"VERSION_TABLE": CUSTOM, "VERSION_TABLE_SCHEMA": "deploy"}
    with service(migrations, database_url, **config) as client:
        assert client.post("/upgrade", json={"target": SECOND}).status_code == 200
        assert version_rows(database_url, CUSTOM, schema="deploy") == {SECOND}
        assert not {CUSTOM, "alembic_version"} & tables(database_url)
        assert client.get("/current").get_json()["current"] == [SECOND]
