"""sql=true returns the SQL from the database's actual revision and changes nothing."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa

from api import create_app, db
from tests.apps import close_engines
from tests.databases import tables, version_rows
from tests.revision_graph import ALL, BASE, MERGE, SECOND, TIP, MigrationsDir, standard_graph, table
from tests.tokens import authorized

FAILING = "ffff00000007"
BATCH = "ffff00000008"


def test_upgrade_sql_starts_at_the_current_revision(client, database_url, sqlite_only):
    assert client.post("/upgrade", json={"target": "+2"}).status_code == 200
    before = tables(database_url)

    r = client.post("/upgrade", json={"sql": True})
    assert r.status_code == 200, r.get_json()
    sql = r.get_json()["sql"]
    assert f"CREATE TABLE {table(MERGE)}" in sql
    assert f"CREATE TABLE {table(BASE)}" not in sql  # already applied: not from base
    assert "CREATE TABLE alembic_version" not in sql
    assert tables(database_url) == before
    assert version_rows(database_url) == {SECOND}


def test_a_dry_run_says_where_its_sql_leads_and_applies_nothing(client, database_url):
    assert client.post("/upgrade", json={"target": "+2"}).status_code == 200
    before = tables(database_url)

    up = client.post("/upgrade", json={"sql": True}).get_json()
    assert up["from"] == [SECOND] and up["to"] == [TIP]  # where the SQL leads
    assert up["applied"] == []
    assert sorted(s["revision"] for s in up["rendered"]) == sorted(ALL[2:])
    down = client.post("/downgrade", json={"target": "-1", "sql": True}).get_json()
    assert down["from"] == [SECOND] and down["to"] == [BASE]
    assert down["reverted"] == [] and [s["revision"] for s in down["rendered"]] == [SECOND]
    real = client.post("/upgrade", json={"target": MERGE}).get_json()
    assert real["rendered"] == [] and len(real["applied"]) == 3

    # The log tells the dry runs from the real runs.
    real_op, down_op, up_op, first = client.get("/operations").get_json()["items"]
    assert [op["sql"] for op in (real_op, down_op, up_op, first)] == [False, True, True, False]
    assert up_op["to"] == [TIP] and up_op["status"] == "succeeded"
    assert [s["revision"] for s in up_op["steps"]] == [s["revision"] for s in up["rendered"]]
    assert down_op["to"] == [BASE] and real_op["to"] == [MERGE]
    assert version_rows(database_url) == {MERGE}
    assert tables(database_url) == before | {table(r) for r in ALL[2:5]}


def test_a_failed_dry_run_needs_no_recovery(client, migrations, database_url):
    migrations.add(FAILING, TIP, message="breaks", upgrade="raise RuntimeError('boom')")
    r = client.post("/upgrade", json={"sql": True})
    assert r.status_code == 422 and r.content_type == "application/problem+json"
    problem = r.get_json()
    assert problem["type"] == "urn:migrateway:problem:dry-run-failed"
    assert problem["failed_revision"] == FAILING and "RuntimeError: boom" in problem["error"]
    assert problem["partial_possible"] is False and problem["completed"] == []
    assert "Nothing ran" in problem["detail"] and "stamp" not in problem["detail"].lower()
    assert problem["current"] == [] and tables(database_url) == set()
    (op,) = client.get("/operations").get_json()["items"]
    assert op["sql"] is True and op["status"] == "failed" and op["partial_possible"] is False

    # Nothing ran, so nothing is to recover: a real upgrade is not refused.
    r = client.post("/upgrade", json={"target": TIP})
    assert r.status_code == 200, r.get_json()
    assert version_rows(database_url) == {TIP}


def test_sql_that_needs_a_live_connection_is_refused_plainly(
    client, migrations, database_url, network_only
):
    """Batch mode that copies the table reflects it first: no offline SQL on any backend
    (on a SQLite file the chain runs on a copy instead, below)."""
    migrations.add(
        BATCH,
        TIP,
        message="widen id",
        upgrade=f"with op.batch_alter_table({table(TIP)!r}, recreate='always') as batch:\n"
        "    batch.alter_column('id', existing_type=sa.Integer, type_=sa.BigInteger)",
    )
    assert client.post("/upgrade", json={"target": TIP}).status_code == 200
    r = client.post("/upgrade", json={"sql": True})
    assert r.status_code == 422, r.get_json()
    problem = r.get_json()
    assert problem["type"] == "urn:migrateway:problem:dry-run-failed"
    assert problem["live_connection_required"] is True and problem["failed_revision"] == BATCH
    assert "cannot be rendered offline" in problem["detail"]
    assert "stamp" not in problem["detail"].lower() and problem["partial_possible"] is False
    assert version_rows(database_url) == {TIP}
    assert client.post("/upgrade").status_code == 200  # no recovery asked for


def _with_batch(migrations: MigrationsDir) -> MigrationsDir:
    """Add a batch-mode revision after TIP (SQLite copies the table: it reflects it first)."""
    migrations.add(
        BATCH,
        TIP,
        message="widen id",
        upgrade=f"with op.batch_alter_table({table(TIP)!r}) as batch:\n"
        "    batch.alter_column('id', existing_type=sa.Integer, type_=sa.BigInteger)\n"
        f"op.execute(sa.text('INSERT INTO {table(TIP)} (id) VALUES (:v)').bindparams(v=7))",
    )
    return migrations


@pytest.fixture(params=["project", "flask-migrate"])
def batch_migrations(request, tmp_path) -> MigrationsDir:
    """The standard graph and a batch-mode revision, under this project's env.py or
    Flask-Migrate's own template (which asks the app's db for its engine)."""
    migrations = standard_graph(tmp_path / "migrations")
    if request.param == "flask-migrate":
        flask_env = Path(flask_migrate.__file__).parent / "templates" / "flask" / "env.py"
        shutil.copy(flask_env, migrations.path / "env.py")
    return _with_batch(migrations)


def _digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _column_type(url: str) -> str:
    engine = sa.create_engine(url)
    try:
        (column,) = sa.inspect(engine).get_columns(table(TIP))
        return str(column["type"])
    finally:
        engine.dispose()


def test_batch_mode_sql_on_sqlite_is_rendered_on_a_throwaway_copy(
    batch_migrations, tmp_path, monkeypatch, sqlite_only
):
    url = f"sqlite:///{tmp_path / 'target.sqlite'}"
    app = create_app({"DATABASE_URL": url, "MIGRATIONS_DIR": str(batch_migrations.path)})
    client = authorized(app.test_client())
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    try:
        assert client.post("/upgrade", json={"target": TIP}).status_code == 200
        before = _digest(tmp_path / "target.sqlite")

        r = client.post("/upgrade", json={"sql": True})
        assert r.status_code == 200, r.get_json()
        answer = r.get_json()
        assert answer["from"] == [TIP] and answer["to"] == [BATCH] and answer["applied"] == []
        assert [s["revision"] for s in answer["rendered"]] == [BATCH]
        sql = answer["sql"]
        assert f"CREATE TABLE _alembic_tmp_{table(TIP)}" in sql and "BIGINT" in sql
        assert f"ALTER TABLE _alembic_tmp_{table(TIP)} RENAME TO {table(TIP)};" in sql
        assert f"INSERT INTO {table(TIP)} (id) VALUES (7);" in sql  # the value, written in
        assert f"UPDATE alembic_version SET version_num='{BATCH}'" in sql
        assert "PRAGMA" not in sql and "SELECT alembic_version" not in sql  # reads left out
        # Nothing written to the database, nothing left on disk.
        assert _digest(tmp_path / "target.sqlite") == before
        assert list(scratch.iterdir()) == []
        assert version_rows(url) == {TIP} and _column_type(url) == "INTEGER"
        op = client.get("/operations").get_json()["items"][0]
        assert op["sql"] is True and op["status"] == "succeeded" and op["to"] == [BATCH]

        assert client.post("/upgrade").status_code == 200  # the real run does what it said
        assert version_rows(url) == {BATCH} and _column_type(url) == "BIGINT"
    finally:
        with app.app_context():
            db.engine.dispose()


OWN_URL_ENV = """
import sqlalchemy as sa
from alembic import context

URL = {url!r}
if context.is_offline_mode():
    context.configure(url=URL, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = sa.create_engine(URL, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
"""


def test_batch_mode_sql_when_env_py_ignores_the_copy_is_refused_plainly(
    migrations, tmp_path, sqlite_only
):
    batch_migrations = _with_batch(migrations)
    url = f"sqlite:///{tmp_path / 'target.sqlite'}"
    (batch_migrations.path / "env.py").write_text(OWN_URL_ENV.format(url=url))
    app = create_app({"DATABASE_URL": url, "MIGRATIONS_DIR": str(batch_migrations.path)})
    client = authorized(app.test_client())
    try:
        assert client.post("/upgrade", json={"target": TIP}).status_code == 200
        before = _digest(tmp_path / "target.sqlite")
        r = client.post("/upgrade", json={"sql": True})
        assert r.status_code == 422, r.get_json()
        problem = r.get_json()
        assert problem["type"] == "urn:migrateway:problem:dry-run-failed"
        assert problem["live_connection_required"] is True
        assert "throw-away copy" in problem["detail"] and "Nothing ran" in problem["detail"]
        assert "stamp" not in problem["detail"].lower()
        assert _digest(tmp_path / "target.sqlite") == before
        assert version_rows(url) == {TIP} and _column_type(url) == "INTEGER"
    finally:
        with app.app_context():
            db.engine.dispose()


def test_downgrade_sql_is_relative_to_the_current_revision(client, database_url, sqlite_only):
    assert client.post("/upgrade", json={"target": "+2"}).status_code == 200
    r = client.post("/downgrade", json={"target": "-1", "sql": True})
    assert r.status_code == 200, r.get_json()
    sql = r.get_json()["sql"]
    assert f"DROP TABLE {table(SECOND)}" in sql
    assert f"DROP TABLE {table(BASE)}" not in sql
    assert version_rows(database_url) == {SECOND}
    assert table(SECOND) in tables(database_url)


def test_upgrade_sql_on_a_fresh_database_creates_the_version_table(
    client, database_url, sqlite_only
):
    r = client.post("/upgrade", json={"sql": True})
    assert r.status_code == 200
    assert "CREATE TABLE alembic_version" in r.get_json()["sql"]
    assert tables(database_url) == set()


WIDEN_TITLE = '''"""widen title

Revision ID: 0003widen
Revises: {down}
Create Date: 2026-12-01 10:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = "0003widen"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.alter_column("title", existing_type=sa.String(200), type_=sa.String(400))


def downgrade():
    pass
'''


def test_batch_mode_sql_of_the_users_application_on_sqlite(
    projects, tmp_path, monkeypatch, forget_imports, sqlite_only
):
    """MIGRATEWAY_APP: the application's own db engine is what Flask-Migrate's env.py asks for;
    the dry run gives it the copy, never the application's database."""
    project = projects.flask(tmp_path / "project", migrate_args="render_as_batch=True")
    monkeypatch.syspath_prepend(str(project.root))
    (project.migrations / "versions" / "0003widen_widen_title.py").write_text(
        WIDEN_TITLE.format(down=project.revisions[-1])
    )
    url = f"sqlite:///{tmp_path / 'blog.sqlite'}"
    monkeypatch.setenv("BLOG_DATABASE_URL", url)
    service = create_app({"MIGRATEWAY_APP": "blog:create_app"})
    client = authorized(service.test_client())
    try:
        assert client.post("/upgrade", json={"target": project.revisions[-1]}).status_code == 200
        before = _digest(tmp_path / "blog.sqlite")
        r = client.post("/upgrade", json={"sql": True})
        assert r.status_code == 200, r.get_json()
        answer = r.get_json()
        assert answer["to"] == ["0003widen"] and answer["applied"] == []
        assert "CREATE TABLE _alembic_tmp_post" in answer["sql"] and "VARCHAR(400)" in answer["sql"]
        assert _digest(tmp_path / "blog.sqlite") == before
        assert version_rows(url) == {project.revisions[-1]}
    finally:
        close_engines(service)
