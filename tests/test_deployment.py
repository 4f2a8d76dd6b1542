"""What a deployment relies on: the client address the operation log records behind a reverse
proxy (TRUSTED_PROXIES), and a stop that lets a running migration finish."""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from api.config import PROJECT_ROOT, ConfigurationError, load_config
from api.proxies import client_address
from tests.databases import version_rows
from tests.revision_graph import TIP
from tests.test_readme import recipes
from tests.tokens import FULL, READER, bearer

pytestmark = pytest.mark.usefixtures("sqlite_only")

LOOPBACK = (ipaddress.ip_network("127.0.0.1"),)
PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1"))


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        # Not a trusted proxy: its header is whatever a client wrote.
        ("192.0.2.1", "198.51.100.7", "192.0.2.1"),
        ("10.1.2.3", None, "10.1.2.3"),
        ("10.1.2.3", "198.51.100.7", "198.51.100.7"),
        # The client's own header, which the proxy appended to, is not its address.
        ("10.1.2.3", "6.6.6.6, 198.51.100.7", "198.51.100.7"),
        # Two proxies of ours in a row: the first address neither owns.
        ("10.1.2.3", "6.6.6.6,198.51.100.7, 10.9.9.9", "198.51.100.7"),
        ("10.1.2.3", "10.4.4.4, 10.9.9.9", "10.4.4.4"),
        # Not an address: nothing left of it was written by a trusted proxy.
        ("10.1.2.3", "198.51.100.7, unknown", "10.1.2.3"),
        ("::1", "2001:db8::5", "2001:db8::5"),
        # A dual-stack socket names an IPv4 peer in IPv6.
        ("::ffff:10.1.2.3", "198.51.100.7", "198.51.100.7"),
        ("::ffff:192.0.2.1", "198.51.100.7", "::ffff:192.0.2.1"),
    ],
)
def test_the_client_is_the_rightmost_address_no_trusted_proxy_owns(peer, forwarded_for, client):
    assert client_address(peer, forwarded_for, PROXIES) == client


def test_trusted_proxies_are_addresses_or_networks(tmp_path):
    config = load_config({"TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8,::1"}, str(tmp_path))
    assert [str(n) for n in config["TRUSTED_PROXIES"]] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    assert load_config({}, str(tmp_path))["TRUSTED_PROXIES"] == ()
    with pytest.raises(ConfigurationError, match="TRUSTED_PROXIES .* not 'nginx'"):
        load_config({"TRUSTED_PROXIES": "127.0.0.1,nginx"}, str(tmp_path))


def dry_run_from(server, source: str, forwarded_for: str | None = None) -> str:
    """POST a dry run to ``server`` from the local address ``source``; return the client
    address its operation was recorded with."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, source_address=(source, 0))
    headers = {**bearer(), "Content-Type": "application/json"}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    try:
        connection.request("POST", "/upgrade", body=json.dumps({"sql": True}), headers=headers)
        answer = connection.getresponse()
        body = json.loads(answer.read())
    finally:
        connection.close()
    assert answer.status == 200, body
    operation = server.get(f"/operations/{body['operation_id']}").json()
    return operation["client_address"]


def test_behind_a_trusted_proxy_the_log_records_the_forwarded_client(start_server):
    # The proxy is 127.0.0.1; any other loopback address (127.0.0.2) is a client reaching
    # gunicorn directly, as a pod's port or BIND=0.0.0.0 would let it.
    server = start_server({"TRUSTED_PROXIES": "127.0.0.1"})
    assert dry_run_from(server, "127.0.0.1", "6.6.6.6, 198.51.100.7") == "198.51.100.7"
    assert dry_run_from(server, "127.0.0.1") == "127.0.0.1"
    assert dry_run_from(server, "127.0.0.2", "198.51.100.7") == "127.0.0.2"


def test_without_trusted_proxies_x_forwarded_for_is_ignored(start_server):
    server = start_server({"TRUSTED_PROXIES": None})
    assert dry_run_from(server, "127.0.0.1", "198.51.100.7") == "127.0.0.1"


def test_a_stop_waits_for_a_migration_as_long_as_gunicorn_lets_one_run():
    """systemctl stop and a pod's SIGTERM: gunicorn's graceful_timeout (30 s of its own) follows
    GUNICORN_TIMEOUT; the README's TimeoutStopSec and terminationGracePeriodSeconds sit above."""
    printed = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--print-config", "-c", "python:api.gunicorn_conf"]
        + ["wsgi:app"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "GUNICORN_TIMEOUT": "900"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    found = dict(re.findall(r"^(timeout|graceful_timeout)\s+= (\d+)$", printed, re.MULTILINE))
    assert found == {"timeout": "900", "graceful_timeout": "900"}


def printed_bind(bind: str | None) -> str:
    """The addresses gunicorn listens on with the service's settings and BIND as given."""
    env = {k: v for k, v in os.environ.items() if k != "BIND"}
    printed = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--print-config", "-c", "python:api.gunicorn_conf"]
        + ["wsgi:app"],
        cwd=PROJECT_ROOT,
        env=env if bind is None else {**env, "BIND": bind},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return re.search(r"^bind\s+= (.*)$", printed, re.MULTILINE).group(1)


def test_every_interface_is_a_choice_never_the_default():
    assert printed_bind(None) == "['127.0.0.1:8000']"
    assert printed_bind("0.0.0.0:8000") == "['0.0.0.0:8000']"


def job_script() -> str:
    """The script of the README's Kubernetes Job (its `args: - |` block), without YAML's indent."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    manifest = re.search(r"## Deploying it.*?```yaml\n(.*?)```", readme, re.DOTALL).group(1)
    block = re.search(r"\n( +)- \|\n((?:\1  .*\n|\n)+)", manifest)
    assert block, "the Job has no `args: - |` script"
    return textwrap.dedent(block.group(2))


def test_the_kubernetes_job_runs_the_upgrade_recipe_with_sh(live_server, database_url):
    assert job_script() == recipes()["upgrade"]
    # The Job's image runs it with sh, not bash; with the variables the Job sets.
    env = {"PATH": "/usr/bin:/bin", "MIGRATEWAY": live_server.url, "BUILD_ID": "42"}
    for _ in range(2):  # the Job retried (backoffLimit): the first answer, nothing runs again
        done = subprocess.run(
            ["sh", "-c", job_script()],
            env={**env, "TOKEN": FULL},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads(done.stdout)["to"] == [TIP]
    assert version_rows(database_url) == {TIP}
    refused = subprocess.run(
        ["sh", "-c", job_script()],
        env={**env, "TOKEN": READER, "BUILD_ID": "43"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    # The Job fails, so the rollout stops: curl's exit 22, the problem in the Job's log.
    assert refused.returncode == 22 and "upgrade" in json.loads(refused.stdout)["detail"]
