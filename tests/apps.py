"""Real applications, built the way users build them: a package of their own with a factory,
models, and migrations made by `flask db init` and `flask db migrate` in a subprocess.

Building one costs a few seconds of `flask` processes, so each kind is built once per session
and copied into the test's own directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

INIT = """
import os

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
migrate = Migrate({migrate_args})


def create_app():
    app = Flask(__name__)
    # The application's own setting, as twelve-factor apps read it.
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get(
        "BLOG_DATABASE_URL", "sqlite:///blog.sqlite"
    )
    db.init_app(app)
    migrate.init_app(app, db)
    from {package} import models  # noqa: F401

    return app
"""

MODELS_V1 = """
from {package} import db


class Post(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    title = db.Column(db.String(200), nullable=False)
"""

# The second revision: a column and a table.
MODELS_V2 = (
    MODELS_V1
    + """    body = db.Column(db.Text)


class Tag(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(50), unique=True)
"""
)

WSGI = """
from {package} import create_app

app = create_app()
"""


@dataclass(frozen=True)
class Project:
    """A user's project: ``root`` holds the package and ``migrations/``."""

    root: Path
    package: str
    revisions: tuple[str, ...]  # oldest first: "create post", "add body and tag"

    @property
    def migrations(self) -> Path:
        return self.root / "migrations"

    @property
    def env_py(self) -> Path:
        return self.migrations / "env.py"


class Projects:
    """Projects built once per session (under ``cache``) and copied for each test."""

    def __init__(self, cache: Path):
        self.cache = cache
        self._built: dict[tuple, Project] = {}

    def flask(self, dest: Path, package: str = "blog", migrate_args: str = "") -> Project:
        """A copy, at ``dest``, of a Flask-Migrate project with two revisions of its models;
        ``migrate_args`` are its ``Migrate(...)`` options (``version_table="..."``)."""
        key = (package, migrate_args)
        if key not in self._built:
            root = self.cache / f"{package}-{len(self._built)}"
            self._built[key] = _build(root, package, migrate_args)
        built = self._built[key]
        shutil.copytree(built.root, dest)
        return Project(dest, package, built.revisions)


def _build(root: Path, package: str, migrate_args: str) -> Project:
    pkg = root / package
    pkg.mkdir(parents=True)
    _write(pkg / "__init__.py", INIT.format(package=package, migrate_args=migrate_args))
    _write(pkg / "models.py", MODELS_V1.format(package=package))
    _write(pkg / "wsgi.py", WSGI.format(package=package))
    flask(root, package, "db", "init")
    flask(root, package, "db", "migrate", "-m", "create post")
    _write(pkg / "models.py", MODELS_V2.format(package=package))
    # Autogenerate compares with a database at the first revision.
    flask(root, package, "db", "upgrade")
    flask(root, package, "db", "migrate", "-m", "add body and tag")
    shutil.rmtree(root / "instance")  # the scratch database autogenerate compared with
    for cached in root.rglob("__pycache__"):
        shutil.rmtree(cached)
    return Project(root, package, _revisions_in_order(root / "migrations" / "versions"))


def flask(root: Path, package: str, *args: str) -> str:
    """`flask --app <package>:create_app ...` in the project, as its developer runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", f"{package}:create_app", *args],
        cwd=root,
        env={**_clean_environ(), "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def _clean_environ() -> dict[str, str]:
    # The developer's shell knows nothing of the service's settings.
    drop = ("DATABASE_URL", "MIGRATIONS_DIR", "MIGRATEWAY_APP", "BLOG_DATABASE_URL")
    return {k: v for k, v in os.environ.items() if k not in drop}


def _revisions_in_order(versions: Path) -> tuple[str, ...]:
    ids: dict[str | None, str] = {}
    for path in versions.glob("*.py"):
        text = path.read_text()
        rev = text.split("revision = '", 1)[1].split("'", 1)[0]
        down = text.split("down_revision = ", 1)[1].split("\n", 1)[0].strip("'")
        ids[None if down == "None" else down] = rev
    chain, at = [], None
    while at in ids:
        at = ids[at]
        chain.append(at)
    return tuple(chain)


def _write(path: Path, text: str) -> None:
    path.write_text(textwrap.dedent(text).lstrip())


def close_engines(service) -> None:
    """Dispose of a service's engine and of the engines of the application it was given
    (MIGRATEWAY_APP), so no connection outlives its test."""
    from api import db

    user_app = service.extensions["migrateway"].app_context.__self__
    with user_app.app_context():
        for engine in user_app.extensions["sqlalchemy"].engines.values():
            engine.dispose()
    with service.app_context():
        db.engine.dispose()
