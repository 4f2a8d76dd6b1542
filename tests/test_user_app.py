"""MIGRATEWAY_APP: the user's own application (its package, models, Migrate extension and
migrations) run as `flask --app <it> db upgrade` would run it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from api import create_app
from api.config import PROJECT_ROOT, ConfigurationError
from tests.apps import close_engines
from tests.databases import tables, version_rows
from tests.servers import Gunicorn
from tests.tokens import authorized


@pytest.fixture
def project(projects, tmp_path, monkeypatch, forget_imports):
    """A blog application of two revisions; its package is importable, as PYTHONPATH makes it."""
    built = projects.flask(tmp_path / "project")
    monkeypatch.syspath_prepend(str(built.root))
    return built


@pytest.fixture
def serve(monkeypatch):
    """Start the service on an application; its engines and the application's are closed after."""
    apps = []

    def start(database_url: str, app: str = "blog:create_app", **config):
        monkeypatch.setenv("BLOG_DATABASE_URL", database_url)
        service = create_app({"MIGRATEWAY_APP": app, **config})
        apps.append(service)
        return authorized(service.test_client())

    yield start
    for service in apps:
        close_engines(service)


def columns(url: str, table: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_upgrade_downgrade_stamp_and_dry_run_as_flask_db_would(project, serve, database_url):
    first, second = project.revisions
    client = serve(database_url)

    r = client.get("/current")
    assert r.status_code == 200, r.get_json()
    state = r.get_json()
    assert (state["current"], state["heads"], state["pending"]) == ([], [second], [first, second])

    sql = client.post("/upgrade", json={"sql": True}).get_json()["sql"]
    assert "CREATE TABLE post" in sql and "CREATE TABLE tag" in sql
    assert tables(database_url) == set()

    r = client.post("/upgrade")
    assert r.status_code == 200, r.get_json()
    assert [s["revision"] for s in r.get_json()["applied"]] == [first, second]
    assert {"post", "tag", "alembic_version"} <= tables(database_url)
    assert "body" in columns(database_url, "post")
    assert version_rows(database_url) == {second}

    r = client.post("/downgrade", json={"target": "-1"})
    assert r.status_code == 200, r.get_json()
    assert "tag" not in tables(database_url)
    assert "body" not in columns(database_url, "post")
    assert version_rows(database_url) == {first}

    r = client.post("/stamp", json={"target": "head"})
    assert r.status_code == 200, r.get_json()
    assert version_rows(database_url) == {second}
    assert "tag" not in tables(database_url)  # a stamp runs nothing
    assert client.get("/current").get_json()["up_to_date"] is True


@pytest.mark.parametrize("name", ["blog:create_app()", "blog.wsgi:app", "blog"])
def test_the_application_is_named_as_flask_names_it(
    project, serve, database_url, sqlite_only, name
):
    client = serve(database_url, app=name)
    assert client.get("/current").get_json()["heads"] == [project.revisions[-1]]
    assert client.post("/upgrade").status_code == 200
    assert "tag" in tables(database_url)


def test_database_url_overrides_the_applications_own(project, serve, tmp_path, sqlite_only):
    own = f"sqlite:///{tmp_path / 'own.sqlite'}"
    given = f"sqlite:///{tmp_path / 'given.sqlite'}"
    client = serve(own, DATABASE_URL=given)
    assert client.post("/upgrade").status_code == 200
    assert "post" in tables(given)
    assert not (tmp_path / "own.sqlite").exists() or "post" not in tables(own)


def test_the_applications_migrate_options_reach_env_py_and_reads(
    projects, tmp_path, monkeypatch, forget_imports, serve, database_url
):
    project = projects.flask(tmp_path / "project", migrate_args='version_table="blog_version"')
    monkeypatch.syspath_prepend(str(project.root))
    client = serve(database_url)
    r = client.post("/upgrade")
    assert r.status_code == 200, r.get_json()
    assert version_rows(database_url, "blog_version") == {project.revisions[-1]}
    assert "alembic_version" not in tables(database_url)
    assert client.get("/current").get_json()["current"] == [project.revisions[-1]]


def test_env_py_imports_the_application_and_runs_in_its_context(
    project, serve, database_url, sqlite_only
):
    env = project.env_py.read_text()
    project.env_py.write_text(
        env.replace(
            "from flask import current_app\n",
            "from flask import current_app\n"
            "from blog.models import Post  # the application's own package\n\n"
            "assert current_app.name == 'blog', current_app.name\n",
        )
    )
    client = serve(database_url)
    r = client.post("/upgrade")
    assert r.status_code == 200, r.get_json()
    assert "post" in tables(database_url)


def test_an_application_that_cannot_be_loaded_stops_the_service_in_one_line(
    project, tmp_path, monkeypatch, sqlite_only
):
    monkeypatch.setenv("BLOG_DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite'}")
    with pytest.raises(ConfigurationError, match="MIGRATEWAY_APP=nosuch: .*README"):
        create_app({"MIGRATEWAY_APP": "nosuch"})
    (project.root / "plain.py").write_text("from flask import Flask\napp = Flask('plain')\n")
    with pytest.raises(ConfigurationError, match="no Flask-Migrate extension"):
        create_app({"MIGRATEWAY_APP": "plain:app"})

    done = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "MIGRATEWAY_APP": "nosuch"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 4
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("Migrateway cannot start: MIGRATEWAY_APP=nosuch:")


def flask_wsgi_db(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`flask --app wsgi db ...` typed in the service's own directory."""
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MIGRATIONS_DIR")}
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", *args],
        cwd=PROJECT_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_line_acts_on_the_application_never_on_the_embedded_model(
    project, tmp_path, sqlite_only
):
    url = f"sqlite:///{tmp_path / 'blog.sqlite'}"
    versions = project.migrations / "versions"
    before = set(os.listdir(versions))
    embedded_before = set(os.listdir(PROJECT_ROOT / "migrations" / "versions"))

    # Without MIGRATEWAY_APP, pointed at the application's directory: refused, nothing written.
    done = flask_wsgi_db(
        {"MIGRATIONS_DIR": str(project.migrations), "DATABASE_URL": url}, "migrate"
    )
    assert done.returncode != 0
    assert "MIGRATEWAY_APP" in done.stderr and "Traceback" not in done.stderr
    assert set(os.listdir(versions)) == before

    # With it: `db upgrade` and `db migrate` act on the application, its models and directory.
    env = {"MIGRATEWAY_APP": "blog:create_app", "PYTHONPATH": str(project.root)}
    env["BLOG_DATABASE_URL"] = url
    assert flask_wsgi_db(env, "upgrade").returncode == 0
    assert version_rows(url) == {project.revisions[-1]}
    models = project.root / "blog" / "models.py"
    models.write_text(models.read_text() + "    color = db.Column(db.String(20))\n")
    done = flask_wsgi_db(env, "migrate", "-m", "tag color")
    assert done.returncode == 0, done.stderr
    (new,) = set(os.listdir(versions)) - before - {"__pycache__"}
    text = (versions / new).read_text()
    assert "batch_alter_table('tag'" in text and "add_column(sa.Column('color'" in text
    assert "drop_table" not in text
    assert set(os.listdir(PROJECT_ROOT / "migrations" / "versions")) == embedded_before


def test_served_by_gunicorn_with_the_code_on_pythonpath(project, tmp_path, sqlite_only):
    """The README's way: the project on PYTHONPATH, the application named, nothing else."""
    server = Gunicorn(
        {
            "MIGRATEWAY_APP": "blog:create_app()",
            "PYTHONPATH": str(project.root),
            "DATABASE_URL": None,
            "MIGRATIONS_DIR": None,
        }
    )
    try:
        assert server.get("/ready").json() == {"database": "ok", "migrations": "ok"}
        r = server.post("/upgrade")
        assert r.status_code == 200, r.text
        assert r.json()["to"] == [project.revisions[-1]]
        # The application's own default: sqlite:///blog.sqlite in its instance folder.
        own = f"sqlite:///{project.root / 'instance' / 'blog.sqlite'}"
        assert version_rows(own) == {project.revisions[-1]} and "tag" in tables(own)
    finally:
        server.stop()


BREAKS = '''"""breaks

Revision ID: 0badc0ffee00
Revises: {down}
Create Date: 2026-12-01 00:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0badc0ffee00"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("audit", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("INSERT INTO no_such_table VALUES (1)")


def downgrade():
    op.drop_table("audit")
'''


def test_a_failing_revision_answers_where_the_database_is(project, serve, database_url, backend):
    first, second = project.revisions
    (project.migrations / "versions" / "0badc0ffee00_breaks.py").write_text(
        BREAKS.format(down=second)
    )
    client = serve(database_url)
    assert client.post("/upgrade", json={"target": first}).status_code == 200

    r = client.post("/upgrade")
    assert r.status_code == 422, r.get_json()
    problem = r.get_json()
    held = version_rows(database_url)
    assert problem["current"] == sorted(held)
    assert problem["failed_revision"] == "0badc0ffee00"
    # What the database holds, never what ran and was rolled back with it.
    assert [s["revision"] for s in problem["completed"]] == ([second] if second in held else [])
    assert ("tag" in tables(database_url)) == (second in held)
    if backend == "postgresql":  # one transaction for the chain (the template's default)
        assert held == {first} and problem["partial_possible"] is False
    else:
        assert problem["partial_possible"] is True
    logged = client.get(f"/operations/{problem['operation_id']}").get_json()
    assert logged["status"] == "failed" and logged["to"] == sorted(held)


def test_ready_names_a_module_env_py_imports_that_the_application_lacks(
    project, serve, database_url, sqlite_only
):
    env = project.env_py.read_text()
    project.env_py.write_text(
        env.replace(
            "from flask import current_app\n",
            "from flask import current_app\nfrom blog.search import index  # not written yet\n",
        )
    )
    client = serve(database_url)
    r = client.get("/ready")
    assert r.status_code == 503
    assert r.get_json()["import_error"] == {
        "file": "env.py",
        "line": 5,
        "error": "ModuleNotFoundError: No module named 'blog.search'",
    }
    r = client.post("/upgrade")
    assert r.status_code == 422 and r.get_json()["raised_at"] == {"file": "env.py", "line": 5}
    assert tables(database_url) <= {"alembic_version"}

    (project.root / "blog" / "search.py").write_text("index = None\n")
    assert client.get("/ready").status_code == 200
    assert client.post("/upgrade").status_code == 200
