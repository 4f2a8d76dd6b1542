"""Fixtures: a migrations directory with a real revision graph, a database per test on each
configured backend, the app and its client, and a live gunicorn server."""

from __future__ import annotations

import gc
import os

import pytest

from api import create_app
from tests import databases
from tests.revision_graph import standard_graph
from tests.servers import Gunicorn
from tests.tokens import TOKENS_JSON, authorized

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True, scope="module")
def collect_module_garbage():
    """What a module's fixtures left in reference cycles, and what a test's objects that
    outlived it (frozen by collect_garbage) left: collected when the module is done."""
    yield
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def collect_garbage(collect_module_garbage):
    """A connection left unclosed in a reference cycle warns when the garbage collector gets to
    it, which could be during any later test; collecting after each test blames the one that
    left it. What is still alive then is frozen (gc.freeze), so the next test's collection
    looks at that test's own objects: a full one over the ~200k objects of the imported
    service and the suite took 0.1-0.15 s a test."""
    yield
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def test_tokens(monkeypatch, tmp_path):
    """Every app and server a test starts knows the tokens of tests/tokens.py and no others:
    neither the developer's environment nor their instance/tokens.json leaks in."""
    monkeypatch.setenv("MIGRATEWAY_TOKENS", TOKENS_JSON)
    monkeypatch.setenv("MIGRATEWAY_TOKENS_FILE", str(tmp_path / "no-tokens.json"))


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        names = list(databases.servers())
        if "sqlite_only" in metafunc.fixturenames:
            names = ["sqlite"]
        if "network_only" in metafunc.fixturenames:
            names = [name for name in names if name != "sqlite"]
        if "postgresql_only" in metafunc.fixturenames:
            names = [name for name in names if name == "postgresql"]
        if "mysql_only" in metafunc.fixturenames:
            names = [name for name in names if name == "mysql"]
        if "not_mysql" in metafunc.fixturenames:
            names = [name for name in names if name != "mysql"]
        metafunc.parametrize("backend", names, scope="session")


@pytest.fixture
def sqlite_only():
    """Request this to run a test on SQLite alone (the behaviour is not about the dialect)."""


@pytest.fixture
def network_only():
    """Request this to run a test on the database servers only (SQLite has no network)."""


@pytest.fixture
def postgresql_only():
    """Request this for what only PostgreSQL has (schemas inside one database)."""


@pytest.fixture
def not_mysql():
    """Request this where MariaDB behaves as SQLite does (no transactional DDL) and the test
    is slow: SQLite stands for both."""


@pytest.fixture
def mysql_only():
    """Request this for a test of MariaDB (MySQL) alone."""


def reachable_server(backend: str) -> str:
    """The admin URL of ``backend``; the test fails (CI) or skips when it cannot be reached."""
    admin_url = databases.servers()[backend]
    reason = databases.unreachable(admin_url)
    if reason:
        if IN_CI:
            pytest.fail(f"{backend} must be reachable under CI=true: {reason}")
        pytest.skip(f"{backend} not reachable: {reason}")
    return admin_url


@pytest.fixture
def database_url(backend, tmp_path):
    """A new, empty database on ``backend`` for this test."""
    with databases.fresh_database(reachable_server(backend), tmp_path) as url:
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
    """A test client that sends the token with every scope."""
    return authorized(app.test_client())


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def live_server(migrations, database_url):
    server = Gunicorn({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def read_only_server(backend, tmp_path_factory):
    """One live server per module and backend, for tests that only read: the standard graph
    on a database of its own that stays unversioned (checked when the module is done)."""
    tmp_path = tmp_path_factory.mktemp("read-only-server")
    migrations = standard_graph(tmp_path / "migrations")
    with databases.fresh_database(reachable_server(backend), tmp_path) as url:
        # Module-scoped, it starts before the test_tokens fixture: the same tokens, given here.
        server = Gunicorn(
            {
                "DATABASE_URL": url,
                "MIGRATIONS_DIR": str(migrations.path),
                "MIGRATEWAY_TOKENS": TOKENS_JSON,
                "MIGRATEWAY_TOKENS_FILE": str(tmp_path / "no-tokens.json"),
            }
        )
        try:
            yield server
        finally:
            server.stop()
        assert databases.version_rows(url) == set(), "a test wrote to the read-only server"


@pytest.fixture
def start_server(migrations, database_url):
    """Start gunicorn on the test's database with more environment (None unsets a variable)
    or gunicorn arguments; each server still running is stopped after the test."""
    servers = []

    def start(env: dict[str, str | None] | None = None, args: tuple[str, ...] = ()):
        base = {"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)}
        servers.append(Gunicorn({**base, **(env or {})}, args=args))
        return servers[-1]

    yield start
    for server in servers:
        if server.proc.returncode is None:
            server.stop()


@pytest.fixture(scope="session")
def projects(tmp_path_factory):
    """Real applications with their own package and migrations (tests/apps.py)."""
    from tests.apps import Projects

    return Projects(tmp_path_factory.mktemp("projects"))


@pytest.fixture(scope="session")
def shop(tmp_path_factory):
    """A Flask-SQLAlchemy project with two binds (tests/multidb_projects.py)."""
    from tests import multidb_projects

    return multidb_projects.flask_multidb(tmp_path_factory.mktemp("shop") / "project")


@pytest.fixture
def users_url(backend, database_url, tmp_path):
    """A second new database on the same server, for the "users" bind."""
    (tmp_path / "users").mkdir()
    with databases.fresh_database(databases.servers()[backend], tmp_path / "users") as url:
        yield url


@pytest.fixture
def isolated_imports(monkeypatch):
    """The service puts a project's prepend_sys_path on sys.path (tests/alembic_project.py):
    undo it after the test, and forget the project's package."""
    import sys

    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("shop_"):
            del sys.modules[name]


@pytest.fixture
def close_app():
    """Call it with each app a test creates itself: its engine is disposed of after the test."""
    from api import db

    apps = []
    yield apps.append
    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def forget_imports():
    """Tests load applications that share a package name from different directories:
    each starts with none of them imported."""
    import sys

    def forget() -> None:
        for name in list(sys.modules):
            if name.split(".")[0] in {"blog", "shop"}:
                del sys.modules[name]

    # Before too: a test that did not ask for this fixture may have left one imported (in a
    # worker that ran it first, the next test's "blog" was that test's project).
    forget()
    yield
    forget()
