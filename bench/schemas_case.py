"""8, PostgreSQL: GET /targets over tenant schemas of one database, found by one discovery
entry, against one Python process reading every tenant's version table on one connection."""

from __future__ import annotations

import json
import sys

import psycopg

from bench import client, databases, schema_fleet
from bench.processes import Gunicorn, timed_command
from bench.report import Row, median, spread, verdict

PAGE = 1000  # the largest page GET /targets gives
GOAL_SECONDS = 10.0


def targets(s, path, ids: list[str]) -> list[Row]:
    """The PostgreSQL variant of case 8 over ``s.fleet_n`` schemas: ``path`` and ``ids`` are
    the migrations directory the SQLite variant used."""
    from bench.cases import log  # the one progress printer

    n = s.fleet_n
    tenants, behind = schema_fleet.plan(n, ids)
    with databases.postgres_database() as url:
        discovery = json.dumps([{"url": url, "schemas": "tenant\\_%"}])
        env = dict(s.env(path, databases.sqlite_url(s.scratch)), MIGRATEWAY_TARGETS=discovery)
        log(f"[8] {n} PostgreSQL tenant schemas: one migrated by POST, the rest in batches")
        _migrate_template(s, url, env)
        made = schema_fleet.make(url, tenants, ids[-1])
        log(f"[8] made {n} schemas (and logs) in {made:.0f} s")

        loop = []
        for _ in range(s.runs):
            elapsed, out = timed_command(
                [sys.executable, "-c", schema_fleet.READ_LOOP, url, ids[-1]], env
            )
            assert int(out) == behind, (out, behind)
            loop.append(elapsed)

        first, warm, paged = [], [], []
        for run in range(min(s.runs, 3)):  # each run a fresh server: the first listing is cold
            log(f"[8] GET /targets over {n} schemas, server start {run + 1}")
            with Gunicorn("wsgi:app", env, 1, log=s.scratch / "gunicorn.log") as srv:
                srv.wait_ready("/health")
                first.append(_behind(srv.port, behind))
                warm.append(_behind(srv.port, behind))
                paged.append(_paged(srv.port, [name for name, _ in tenants]))

    label = f"{n} PostgreSQL tenant schemas in one database, {len(ids)} revisions"
    reference = f"one Python process reading each schema's version table {spread(loop)}"
    rows = []
    for what, times in (
        ("first after start", first),
        ("warm", warm),
        (f"paged, {n // PAGE or 1} requests, warm", paged),
    ):
        query = "" if what.startswith("paged") else "?up_to_date=false"
        rows.append(
            Row(
                f"8. GET /targets{query} ({what}), {label}",
                spread(times),
                reference,
                f"{median(times) / median(loop):.2f}",
                f"≤ {GOAL_SECONDS:.0f} s",
                verdict(median(times) <= GOAL_SECONDS),
            )
        )
    rows.append(
        Row(
            f"8. making the {label} (one connection, {schema_fleet.BATCH} tenants a batch)",
            f"{made:.0f} s",
            "—",
            "—",
            "report",
            "—",
        )
    )
    return rows


def _migrate_template(s, url: str, env: dict[str, str]) -> None:
    """A real POST /upgrade base→head of TEMPLATE: its log is the model of the others'."""
    template = schema_fleet.TEMPLATE
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {template}")
    with Gunicorn("wsgi:app", env, 1, log=s.scratch / "gunicorn.log") as srv:
        srv.wait_ready("/health")
        resp = client.post(srv.port, f"/targets/{template}/upgrade", {"target": "head"})
        client.expect_ok(resp, "POST /upgrade")


def _behind(port: int, behind: int) -> float:
    resp = client.expect_ok(client.get(port, f"/targets?up_to_date=false&limit={PAGE}"), "GET")
    body = resp.json()
    assert body["total"] == behind, (body["total"], behind)
    assert all(row["reachable"] for row in body["items"]), "a schema read as unreachable"
    return resp.seconds


def _paged(port: int, names: list[str]) -> float:
    """Seconds to page through every target; checks every row came back once."""
    spent, listed = 0.0, []
    for offset in range(0, len(names), PAGE):
        resp = client.expect_ok(client.get(port, f"/targets?limit={PAGE}&offset={offset}"), "GET")
        spent += resp.seconds
        items = resp.json()["items"]
        listed += [row["name"] for row in items]
        assert all(row["reachable"] for row in items), "a schema read as unreachable"
    assert listed == names, "the pages did not list every target once, in order"
    return spent
