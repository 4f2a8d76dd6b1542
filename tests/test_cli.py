"""`flask --app wsgi db ...` keeps the tutorial's command set working, next to the API."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from alembic import command
from alembic.config import Config

from api import create_app, db
from api.config import PROJECT_ROOT
from api.service.alembic_env import preserved_logging
from tests.databases import tables, version_rows
from tests.tokens import authorized

pytestmark = pytest.mark.usefixtures("sqlite_only")


def flask_db_process(env: dict, *args: str) -> str:
    """The real command line, `flask --app wsgi db ...`, configured by the environment."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_tutorial_commands_on_a_new_directory(tmp_path, monkeypatch):
    directory = tmp_path / "migrations"
    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    env = {"MIGRATIONS_DIR": str(directory), "DATABASE_URL": url}

    # Once as a person types it: the `flask` executable finds the app and its `db` group.
    flask_db_process(env, "init")
    assert (directory / "env.py").exists()

    # The rest through Flask's CLI runner: the same click commands, in-process, on a new app
    # each time as the command line makes (Flask-Migrate's env.py keeps the first run's
    # process_revision_directives in its app's extension: `check` after `migrate` would reuse
    # autogenerate's).
    # Alembic's Config prints to the sys.stdout of when alembic was imported (a default
    # argument); in a new process that is the terminal, here it must be the runner's.
    alembic_init = Config.__init__

    def init(self, *args, **kwargs):
        kwargs.setdefault("stdout", sys.stdout)
        alembic_init(self, *args, **kwargs)

    monkeypatch.setattr(Config, "__init__", init)

    def flask_db(*args: str) -> str:
        cli_app = create_app({"MIGRATIONS_DIR": str(directory), "DATABASE_URL": url})
        try:
            with preserved_logging():
                result = cli_app.test_cli_runner().invoke(args=["db", *args])
        finally:
            with cli_app.app_context():
                db.engine.dispose()
        assert result.exit_code == 0, (result.output, result.exception)
        return result.output

    out = flask_db("migrate", "-m", "create user")
    assert "Detected added table 'user'" in out
    flask_db("upgrade")
    assert "user" in tables(url)
    (first,) = version_rows(url)
    assert first in flask_db("current")
    assert "No new upgrade operations detected" in flask_db("check")
    assert first in flask_db("heads")
    assert first in flask_db("show", first)
    flask_db("downgrade")
    assert "user" not in tables(url)
    flask_db("upgrade")

    flask_db("revision", "-m", "branch one", "--head", first)
    flask_db("revision", "-m", "branch two", "--head", first, "--splice")
    assert first in flask_db("branches")
    flask_db("merge", "heads", "-m", "merge both")
    assert "merge both" in flask_db("history")
    flask_db("upgrade")
    flask_db("stamp", "head")
    flask_db("downgrade", "base")
    assert "user" not in tables(url)

    # The API manages the same directory, whose env.py is Flask-Migrate's own template
    # (it calls logging.config.fileConfig): the service's loggers must survive it.
    service_log = logging.getLogger("api.problems")
    assert not service_log.disabled
    app = create_app({"MIGRATIONS_DIR": str(directory), "DATABASE_URL": url})
    r = authorized(app.test_client()).post("/upgrade")
    assert r.status_code == 200, r.get_json()
    assert len(r.get_json()["applied"]) == 4
    assert "user" in tables(url)
    assert not service_log.disabled
    with app.app_context():
        db.engine.dispose()


def test_a_plain_alembic_directory_is_managed_too(tmp_path):
    """A directory made by `alembic init` (its env.py reads sqlalchemy.url from the config)."""
    directory = tmp_path / "alembic"
    command.init(Config(str(tmp_path / "alembic.ini")), str(directory))
    assert (directory / "env.py").exists() and (tmp_path / "alembic.ini").exists()
    (directory / "versions" / "0001_t.py").write_text(
        '"""create t\n\nCreate Date: 2026-02-03 04:05:06\n"""\n'
        "from alembic import op\nimport sqlalchemy as sa\n"
        "revision = '0001'\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n"
        "def upgrade():\n    op.create_table('t', sa.Column('id', sa.Integer))\n"
        "def downgrade():\n    op.drop_table('t')\n"
    )
    url = f"sqlite:///{tmp_path / 'plain.sqlite'}"
    app = create_app({"MIGRATIONS_DIR": str(directory), "DATABASE_URL": url})
    client = authorized(app.test_client())
    assert client.get("/revisions").get_json()["items"][0]["revision"] == "0001"
    r = client.post("/upgrade")
    assert r.status_code == 200, r.get_json()
    assert version_rows(url) == {"0001"} and "t" in tables(url)
    with app.app_context():
        db.engine.dispose()
