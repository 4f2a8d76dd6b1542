"""MIGRATEWAY_TARGETS and MIGRATEWAY_TARGETS_FILE: a bad list stops the start with one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from api import create_app
from api.config import ConfigurationError

BAD_LISTS = [
    ("not json", "MIGRATEWAY_TARGETS is not JSON"),
    ('{"name": "a"}', "must be a JSON list"),
    ('[{"name": "Bad Name", "url": "sqlite://"}]', "MIGRATEWAY_TARGETS[0]: 'name' must match"),
    ('[{"name": "a", "url": "sqlite://"}, {"name": "a", "url": "sqlite://"}]', "given twice"),
    ('[{"name": "a"}]', "'url' must be a database URL"),
    ('[{"name": "a", "url": "not a url"}]', "'url' is not a database URL"),
    ('[{"name": "a", "url": "sqlite://", "schema": "t1"}]', "'schema' needs a PostgreSQL URL"),
    ('[{"url": "postgresql://h/d", "schemas": ""}]', "'schemas' must be a SQL LIKE pattern"),
    ('[{"name": "a", "url": "postgresql://h/d", "schema": 1}]', "'schema' must be a schema name"),
    ('[{"name": "a", "url": "sqlite://", "extra": 1}]', "unknown keys ['extra']"),
    ('[{"name": "a", "url": "nosuchdb://h/x"}]', "'a': its database driver cannot be loaded"),
]


@pytest.mark.parametrize(("raw", "said"), BAD_LISTS)
def test_a_bad_target_list_stops_the_start_with_one_line(raw, said, tmp_path, sqlite_only):
    with pytest.raises(ConfigurationError) as err:
        create_app(
            {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}", "MIGRATEWAY_TARGETS": raw}
        )
    assert said in str(err.value) and "\n" not in str(err.value)


def test_the_process_stops_with_one_line_from_the_environment(tmp_path, sqlite_only):
    listed = tmp_path / "targets.json"
    listed.write_text('[{"name": "-bad", "url": "sqlite://"}]')
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}",
        "MIGRATEWAY_TARGETS_FILE": str(listed),
    }
    run = subprocess.run(
        [sys.executable, "-c", "import wsgi"], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 4
    assert run.stderr.strip().splitlines() == [
        "Migrateway cannot start: MIGRATEWAY_TARGETS_FILE[0]: 'name' must match "
        "^[a-z0-9][a-z0-9_-]{0,62}$ (lower-case letters, digits, '_', '-')"
    ]


def test_the_inline_list_and_the_file_are_read_together(tmp_path, sqlite_only):
    listed = tmp_path / "targets.json"
    listed.write_text('[{"name": "b", "url": "sqlite:///%s"}]' % (tmp_path / "b.sqlite"))
    config = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}",
        "MIGRATEWAY_TARGETS": '[{"name": "a", "url": "sqlite:///%s"}]' % (tmp_path / "a.sqlite"),
        "MIGRATEWAY_TARGETS_FILE": str(listed),
    }
    fleet = create_app(config).extensions["migrateway_targets"]
    assert [t.name for t in fleet.targets] == ["a", "b"]

    listed.write_text('[{"name": "a", "url": "sqlite://"}]')
    with pytest.raises(ConfigurationError, match="'a' is also in MIGRATEWAY_TARGETS"):
        create_app(config)
    with pytest.raises(ConfigurationError, match="MIGRATEWAY_TARGETS_FILE cannot be read"):
        create_app({**config, "MIGRATEWAY_TARGETS_FILE": str(tmp_path / "missing.json")})
