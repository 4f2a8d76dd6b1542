"""The token list (environment, file), `flask tokens create`, the run command's local token."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from api import create_app
from api.config import PROJECT_ROOT, ConfigurationError
from api.tokens import SCOPES, entry, hash_token, load, parse
from tests.servers import free_port
from tests.tokens import READER, bearer

pytestmark = pytest.mark.usefixtures("sqlite_only")

GUNICORN_CONF = ("-c", "python:api.gunicorn_conf")
TOKEN = re.compile(r"mgw_[A-Za-z0-9_\-]{43}")


def test_only_the_hash_is_configured():
    item = entry("ci", "mgw_secret", ["upgrade", "read", "read"])
    assert item == {
        "name": "ci",
        "sha256": hashlib.sha256(b"mgw_secret").hexdigest(),
        "scopes": ["read", "upgrade"],
    }
    assert "mgw_secret" not in json.dumps(item)


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("{not json", "not valid JSON"),
        ('{"name": "x"}', "must be a JSON list"),
        ('[{"name": "x", "sha256": "00"}]', "exactly the keys"),
        ('[{"name": "x", "sha256": "00", "scopes": ["read"]}]', "64 lowercase hex"),
        (json.dumps([{**entry("x", "t", ["read"]), "scopes": ["admin"]}]), "scopes must be"),
        (json.dumps([{**entry("x", "t", ["read"]), "name": "a b"}]), "name must match"),
        (json.dumps([entry("x", "t", ["read"]), entry("x", "u", ["read"])]), "unique"),
        (json.dumps([{**entry("x", "t", ["read"]), "scopes": [["read"]]}]), "scopes must be"),
        (json.dumps([{**entry("x", "t", ["read"]), "name": "x\n"}]), "name must match"),
        ("[" * 6000 + "]" * 6000, "nested too deeply"),
    ],
)
def test_a_malformed_token_list_stops_the_service(raw, complaint, migrations, database_url):
    with pytest.raises(ConfigurationError, match=complaint):
        create_app(
            {
                "DATABASE_URL": database_url,
                "MIGRATIONS_DIR": str(migrations.path),
                "MIGRATEWAY_TOKENS": raw,
            }
        )


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [("{not json", "is not valid JSON"), ('[{"name": "x"}]', "must have exactly the keys")],
)
def test_a_malformed_token_list_stops_the_real_commands_with_one_line(
    raw, complaint, tmp_path, database_url
):
    """The README's run command (on a database given and on the embedded one, whose start
    reads the tokens file) and `flask --app wsgi`: no traceback, one line, a non-zero exit."""
    tokens_file = tmp_path / "tokens.json"
    tokens_file.write_text(raw)
    bindir = Path(sys.executable).parent
    gunicorn = [str(bindir / "gunicorn"), *GUNICORN_CONF, "wsgi:app"]
    flask = [str(bindir / "flask"), "--app", "wsgi", "db", "current"]
    runs = [
        (gunicorn, {"DATABASE_URL": database_url, "MIGRATEWAY_TOKENS": raw}),
        (gunicorn, {"DATABASE_URL": None, "MIGRATEWAY_TOKENS_FILE": str(tokens_file)}),
        (flask, {"DATABASE_URL": database_url, "MIGRATEWAY_TOKENS": raw}),
    ]
    for command, env in runs:
        env = {**os.environ, "MIGRATEWAY_TOKENS": "", "BIND": f"127.0.0.1:{free_port()}", **env}
        done = subprocess.run(
            command,
            cwd=PROJECT_ROOT,
            env={k: v for k, v in env.items() if v is not None},
            capture_output=True,
            text=True,
            timeout=60,
        )
        output = done.stdout + done.stderr
        assert done.returncode != 0, output
        assert "Traceback" not in output, output
        (line,) = [x for x in output.splitlines() if complaint in x]
        assert line.startswith("Migrateway cannot start: MIGRATEWAY_TOKENS"), line


def test_tokens_come_from_the_environment_and_the_file(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps([entry("from-file", "f", ["read"])]))
    config = {
        "MIGRATEWAY_TOKENS": json.dumps([entry("from-env", "e", SCOPES)]),
        "MIGRATEWAY_TOKENS_FILE": str(path),
    }
    assert [t.name for t in load(config)] == ["from-env", "from-file"]
    # A file that does not exist yet holds no token; every call then says how to make one.
    assert load({"MIGRATEWAY_TOKENS_FILE": str(tmp_path / "missing.json")}) == ()
    assert parse("", "empty") == []


def test_cli_creates_a_token_that_works(runner, migrations, database_url):
    result = runner.invoke(args=["tokens", "create", "--name", "ci", "--scopes", "read,upgrade"])
    assert result.exit_code == 0, result.output
    (secret,) = set(TOKEN.findall(result.output))
    line = next(x for x in result.output.splitlines() if x.strip().startswith("{"))
    item = json.loads(line)
    assert item == {"name": "ci", "sha256": hash_token(secret), "scopes": ["read", "upgrade"]}

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "MIGRATIONS_DIR": str(migrations.path),
            "MIGRATEWAY_TOKENS": json.dumps([item]),
        }
    )
    client = app.test_client()
    assert client.get("/heads", headers=bearer(secret)).status_code == 200
    r = client.post("/stamp", json={"target": "base"}, headers=bearer(secret))
    assert r.status_code == 403 and r.get_json()["missing_scope"] == "stamp"


@pytest.mark.parametrize(
    "args", [["--scopes", "read,admin"], ["--scopes", ""], ["--name", "with space"]]
)
def test_cli_refuses_unknown_scopes_and_bad_names(runner, args):
    base = {"--name": "ci", "--scopes": "read"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    result = runner.invoke(args=["tokens", "create", *[x for kv in base.items() for x in kv]])
    assert result.exit_code == 2 and not TOKEN.search(result.output)


def test_the_run_command_creates_a_local_token_once(start_server, tmp_path):
    """The README's command on the embedded default: a token with every scope, its hash in
    the tokens file, printed once; the next start prints nothing and the token still works."""
    tokens_file = tmp_path / "instance" / "tokens.json"
    env = {
        "DATABASE_URL": None,  # the embedded default (read only here: GET /nowhere)
        "MIGRATEWAY_TOKENS": None,
        "MIGRATEWAY_TOKENS_FILE": str(tokens_file),
    }
    first = start_server(env, args=GUNICORN_CONF)
    output = first.stop()
    (secret,) = set(TOKEN.findall(output))
    assert f"Authorization: Bearer {secret}" in output and "/docs" in output
    # The start line names the address gunicorn listens on, whatever --bind says.
    assert f"[INFO] Swagger UI: {first.url}/docs" in output
    stored = json.loads(tokens_file.read_text())
    assert stored == [{"name": "local", "sha256": hash_token(secret), "scopes": sorted(SCOPES)}]
    assert secret not in tokens_file.read_text()
    assert tokens_file.stat().st_mode & 0o077 == 0  # readable by its owner alone

    second = start_server(env, args=GUNICORN_CONF)
    # Past authentication, the unknown URL is a 404; without the token, a 401.
    assert requests.get(second.url + "/nowhere", headers=bearer(secret)).status_code == 404
    assert requests.get(second.url + "/nowhere").status_code == 401
    assert not TOKEN.search(second.stop())
    assert json.loads(tokens_file.read_text()) == stored


def test_no_local_token_for_a_database_url_someone_gave(start_server, tmp_path):
    tokens_file = tmp_path / "tokens.json"
    server = start_server(
        {"MIGRATEWAY_TOKENS": None, "MIGRATEWAY_TOKENS_FILE": str(tokens_file)},
        args=GUNICORN_CONF,
    )
    r = requests.get(server.url + "/current", headers=bearer(READER))
    assert r.status_code == 401 and "tokens create" in r.json()["detail"]
    assert not TOKEN.search(server.stop())
    assert not tokens_file.exists()
