"""`flask --app wsgi db ...` keeps the tutorial's command set working, next to the API."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from api import create_app
from api.config import PROJECT_ROOT
from tests.databases import tables, version_rows
from tests.tokens import authorized

pytestmark = pytest.mark.usefixtures("sqlite_only")


def flask_db(env: dict, *args: str) -> str:
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


def test_tutorial_commands_on_a_new_directory(tmp_path):
    directory = tmp_path / "migrations"
    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    env = {"MIGRATIONS_DIR": str(directory), "DATABASE_URL": url}

    flask_db(env, "init")
    assert (directory / "env.py").exists()
    out = flask_db(env, "migrate", "-m", "create user")
    assert "Detected added table 'user'" in out
    flask_db(env, "upgrade")
    assert "user" in tables(url)
    (first,) = version_rows(url)
    assert first in flask_db(env, "current")
    assert "No new upgrade operations detected" in flask_db(env, "check")
    assert first in flask_db(env, "heads")
    assert first in flask_db(env, "show", first)
    flask_db(env, "downgrade")
    assert "user" not in tables(url)
    flask_db(env, "upgrade")

    flask_db(env, "revision", "-m", "branch one", "--head", first)
    flask_db(env, "revision", "-m", "branch two", "--head", first, "--splice")
    assert first in flask_db(env, "branches")
    flask_db(env, "merge", "heads", "-m", "merge both")
    assert "merge both" in flask_db(env, "history")
    flask_db(env, "upgrade")
    flask_db(env, "stamp", "head")
    flask_db(env, "downgrade", "base")
    assert "user" not in tables(url)

    # The API manages the same directory, whose env.py is Flask-Migrate's own template
    # (it calls logging.config.fileConfig): the service's loggers must survive it.
    service_log = logging.getLogger("api.problems")
    app = create_app({"MIGRATIONS_DIR": str(directory), "DATABASE_URL": url})
    r = authorized(app.test_client()).post("/upgrade")
    assert r.status_code == 200, r.get_json()
    assert len(r.get_json()["applied"]) == 4
    assert "user" in tables(url)
    assert not service_log.disabled


def test_a_plain_alembic_directory_is_managed_too(tmp_path):
    """A directory made by `alembic init` (its env.py reads sqlalchemy.url from the config)."""
    directory = tmp_path / "alembic"
    subprocess.run(
        [sys.executable, "-m", "alembic", "init", str(directory)],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
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
