"""DDL lock timeout settings: per request and from the environment, checked (a bad one is a
400, or stops the service at start), with their defaults; SQLite has no lock to time out."""

from __future__ import annotations

import pytest

from api.config import ConfigurationError, load_config
from tests.databases import version_rows
from tests.ddl_locks import ALTER, accounts_then_note
from tests.test_failures import assert_problem


@pytest.fixture
def migrations(tmp_path):
    """accounts (with rows, a name twice), then a revision that alters it."""
    return accounts_then_note(tmp_path / "migrations")


def test_sqlite_ignores_the_timeout(client, database_url, sqlite_only):
    r = client.post("/upgrade", json={"ddl_lock_timeout": 0.5, "ddl_lock_retries": 0})
    assert r.status_code == 200 and r.get_json()["retries"] == []
    assert version_rows(database_url) == {ALTER}


@pytest.mark.usefixtures("sqlite_only")
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/upgrade", {"ddl_lock_timeout": 0}),
        ("/upgrade", {"ddl_lock_timeout": -1}),
        ("/upgrade", {"ddl_lock_timeout": 601}),
        ("/downgrade", {"target": "-1", "ddl_lock_retries": 11}),
        ("/downgrade", {"target": "-1", "ddl_lock_retries": 1.5}),
        ("/stamp", {"target": "head", "ddl_lock_timeout": 1}),  # a stamp runs no DDL
    ],
)
def test_bad_lock_settings_are_400(client, database_url, path, body):
    problem = assert_problem(client.post(path, json=body), 400, "invalid-request")
    assert set(problem["errors"]) <= {"ddl_lock_timeout", "ddl_lock_retries"}
    assert version_rows(database_url) == set()


@pytest.mark.parametrize(
    ("environ", "fault"),
    [
        ({"DDL_LOCK_TIMEOUT": "abc"}, "DDL_LOCK_TIMEOUT must be seconds"),
        ({"DDL_LOCK_TIMEOUT": "0"}, "DDL_LOCK_TIMEOUT must be seconds"),
        ({"DDL_LOCK_TIMEOUT": "nan"}, "DDL_LOCK_TIMEOUT must be seconds"),
        ({"DDL_LOCK_RETRIES": "-1"}, "DDL_LOCK_RETRIES must be an integer"),
        ({"DDL_LOCK_RETRIES": "99"}, "DDL_LOCK_RETRIES must be an integer"),
    ],
)
def test_bad_settings_are_refused_at_start(tmp_path, environ, fault):
    with pytest.raises(ConfigurationError, match=fault):
        load_config(environ, str(tmp_path))


def test_settings_defaults(tmp_path):
    config = load_config({}, str(tmp_path))
    assert config["DDL_LOCK_TIMEOUT"] is None and config["DDL_LOCK_RETRIES"] == 3
    config = load_config({"DDL_LOCK_TIMEOUT": "2.5", "DDL_LOCK_RETRIES": "0"}, str(tmp_path))
    assert config["DDL_LOCK_TIMEOUT"] == 2.5 and config["DDL_LOCK_RETRIES"] == 0
