"""Fixtures: a migrations directory with a real revision graph, a database per test on each
configured backend, the app and its client, and a live gunicorn server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
import requests

from api import create_app
from api.config import PROJECT_ROOT
from tests import databases
from tests.revision_graph import standard_graph

IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        names = list(databases.servers())
        if "sqlite_only" in metafunc.fixturenames:
            names = ["sqlite"]
        metafunc.parametrize("backend", names, scope="session")


@pytest.fixture
def sqlite_only():
    """Request this to run a test on SQLite alone (the behaviour is not about the dialect)."""


@pytest.fixture
def database_url(backend, tmp_path):
    """A new, empty database on ``backend`` for this test."""
    admin_url = databases.servers()[backend]
    reason = databases.unreachable(admin_url)
    if reason:
        if IN_CI:
            pytest.fail(f"{backend} must be reachable under CI=true: {reason}")
        pytest.skip(f"{backend} not reachable: {reason}")
    with databases.fresh_database(admin_url, tmp_path) as url:
        yield url


@pytest.fixture
def migrations(tmp_path):
    """The standard graph: linear start, a named branch, a main line, a merge."""
    return standard_graph(tmp_path / "migrations")


@pytest.fixture
def app(migrations, database_url):
    app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
    yield app
    from api import db

    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """gunicorn serving wsgi:app on a free port, as in production."""

    def __init__(self, env: dict[str, str], workers: int = 1):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--threads",
                "4",
                "--timeout",
                "120",
                "wsgi:app",
            ],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.proc.stdout.read().decode()}")
            try:
                requests.get(self.url + "/health", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not answer within 30 s")

    def stop(self) -> str:
        self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return out.decode(errors="replace")


@pytest.fixture
def live_server(migrations, database_url):
    server = LiveServer({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
    yield server
    server.stop()
