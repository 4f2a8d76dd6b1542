"""A database host that stops answering (a network partition, a failover that reset nothing):
reads, readiness and writes answer 503 within a few DB_CONNECT_TIMEOUTs, where the kernel
alone would have waited about 15 minutes, and the service recovers when the host is back."""

from __future__ import annotations

import os
import shutil
import time

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import IN_CI
from tests.databases import server_port
from tests.revision_graph import SECOND
from tests.servers import Gunicorn, Partition

TIMEOUT = 1  # DB_CONNECT_TIMEOUT (whole seconds; the least, so the waits are short)
# A read waits out its own connection, then the pool's ping, then a new connection.
BOUND = 4 * TIMEOUT + 2


@pytest.fixture
def partition(database_url, network_only):
    if os.geteuid() != 0 or shutil.which("ip") is None:
        reason = "a network namespace needs root and iproute2"
        if IN_CI:
            pytest.fail(f"{reason} (CI runs as root)")
        pytest.skip(reason)
    with Partition(server_port(database_url)) as partition:
        yield partition


def test_a_database_that_stops_answering_is_503_within_seconds(migrations, database_url, partition):
    url = make_url(database_url).set(host=partition.host, port=partition.port)
    server = Gunicorn(
        {
            "DATABASE_URL": url.render_as_string(hide_password=False),
            "MIGRATIONS_DIR": str(migrations.path),
            "DB_CONNECT_TIMEOUT": str(TIMEOUT),
        }
    )
    try:
        assert server.post("/upgrade", json={"target": SECOND}).status_code == 200
        for _ in range(8):  # every thread keeps a connection for its reads
            assert server.get("/current").json()["current"] == [SECOND]

        partition.cut()
        took_by_path = {}
        for method, path in (("get", "/current"), ("get", "/ready"), ("post", "/upgrade")):
            start = time.monotonic()
            r = getattr(server, method)(path, timeout=BOUND * 3)
            took = time.monotonic() - start
            assert r.status_code == 503, (path, r.text)
            assert r.headers["Content-Type"] == "application/problem+json"
            assert took < BOUND, (path, took)
            took_by_path[path] = round(took, 1)
        print("seconds to a 503 after the cut:", took_by_path)

        partition.heal()
        deadline = time.monotonic() + 20
        while (r := server.get("/current")).status_code != 200:
            assert time.monotonic() < deadline, r.text
            time.sleep(0.2)
        assert r.json()["current"] == [SECOND]
        assert server.post("/upgrade").status_code == 200
    finally:
        server.stop()
