"""8. GET /targets over a fleet of SQLite tenants (bench/fleet.py) against what a user runs
today: `flask db current` per tenant, and one Python process reading every version table."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench import client, databases, fleet, schemas_case
from bench.processes import Gunicorn, flask_db, rss_mb, timed_command
from bench.report import Row, median, seconds, skipped, spread, verdict

REVISIONS = 20
PAGE = 1000  # the largest page GET /targets gives
GOAL_SECONDS = 10.0


def targets(s) -> list[Row]:
    """The whole fleet's status in one call (``?up_to_date=false`` reads every target), first
    after start and warm, and paged; goal: 10 s or less for the whole fleet."""
    from bench.cases import log  # the one progress printer

    n = s.fleet_n
    path, ids = s.directory(REVISIONS)
    log(f"[8] GET /targets over {n} SQLite tenants, {REVISIONS} revisions: making the fleet")
    made = fleet.make(s.scratch / "fleet", n, ids, _oplog_template(s, path))
    env = dict(
        s.env(path, databases.sqlite_url(s.scratch)),
        MIGRATEWAY_TARGETS_FILE=str(made.targets_file),
    )

    log(f"[8] reference: `flask db current` per tenant for a sample, one sqlite3 loop over {n}")
    sample = [p for p in made.paths if p.exists()][: 2 * s.runs]
    per_tenant = [
        timed_command(flask_db("current"), dict(env, DATABASE_URL=f"sqlite:///{p}"))[0]
        for p in sample
    ]
    shell_loop = median(per_tenant) * n
    loop = []
    for _ in range(s.runs):
        elapsed, out = timed_command(
            [sys.executable, "-c", fleet.READ_LOOP, str(made.targets_file), ids[-1]], env
        )
        assert int(out) == made.behind + made.broken, out
        loop.append(elapsed)

    first, warm, paged, fds, rss = [], [], [], [], []
    for run in range(min(s.runs, 3)):  # each run a fresh server: the first listing is cold
        log(f"[8] GET /targets, server start {run + 1}")
        with Gunicorn("wsgi:app", env, 1, log=s.scratch / "gunicorn.log") as srv:
            srv.wait_ready("/health")
            (worker,) = srv.worker_pids()
            before = len(os.listdir(f"/proc/{worker}/fd")), rss_mb(worker)
            first.append(_behind(srv.port, made).seconds)
            warm.append(_behind(srv.port, made).seconds)
            paged.append(_paged(srv.port, made))
            fds.append((before[0], len(os.listdir(f"/proc/{worker}/fd"))))
            rss.append((before[1], rss_mb(worker)))

    label = f"{n} SQLite tenants, {REVISIONS} revisions"
    reference = f"`flask db current` per tenant: {seconds(median(per_tenant))} × {n}"
    ratio = median(first) / shell_loop
    rows = [
        Row(
            f"8. GET /targets?up_to_date=false (reads all), first after start, {label}",
            spread(first),
            f"{reference} = {shell_loop / 3600:.1f} h",
            f"{ratio:.4f} ({1 / ratio:.0f}x faster)",
            f"≤ {GOAL_SECONDS:.0f} s",
            verdict(median(first) <= GOAL_SECONDS),
        )
    ]
    for what, times in (("warm", warm), (f"paged, {n // PAGE or 1} requests, warm", paged)):
        rows.append(
            Row(
                f"8. GET /targets{'?up_to_date=false' if what == 'warm' else ''} ({what}), {label}",
                spread(times),
                f"one Python process reading each version table {spread(loop)}",
                f"{median(times) / median(loop):.2f}",
                f"≤ {GOAL_SECONDS:.0f} s",
                verdict(median(times) <= GOAL_SECONDS),
            )
        )
    opened, was = median([a for _, a in fds]), median([b for b, _ in fds])
    grown, start = median([a for _, a in rss]), median([b for b, _ in rss])
    rows += [
        Row(
            f"8. open files of the worker after those listings, {label}",
            f"{opened:.0f}",
            f"{was:.0f} before",
            "—",
            "report",
            "—",
        ),
        Row(
            f"8. RSS of the worker after those listings, {label}",
            f"{grown:.0f} MB",
            f"{start:.0f} MB before",
            f"{grown / start:.2f}",
            "report",
            "—",
        ),
    ]
    if "postgresql" in s.databases:
        return rows + schemas_case.targets(s, path, ids)
    return rows + [skipped("8. GET /targets over PostgreSQL schemas", "PostgreSQL is down")]


def _oplog_template(s, path: Path) -> Path:
    """The operation log a real POST /upgrade base→head leaves beside a tenant."""
    url = databases.sqlite_url(s.scratch)
    with s.server(path, url) as srv:
        srv.wait_ready("/health")
        client.expect_ok(client.post(srv.port, "/upgrade", {"target": "head"}), "POST /upgrade")
    return Path(url.removeprefix("sqlite:///") + ".operations.sqlite")


def _behind(port: int, made: fleet.Fleet) -> client.Response:
    resp = client.expect_ok(client.get(port, f"/targets?up_to_date=false&limit={PAGE}"), "GET")
    body = resp.json()
    assert body["total"] == made.behind, (body["total"], made.behind)
    return resp


def _paged(port: int, made: fleet.Fleet) -> float:
    """Seconds to page through every target; checks every row came back once."""
    spent, names, unreachable = 0.0, [], 0
    for offset in range(0, len(made.names), PAGE):
        resp = client.expect_ok(client.get(port, f"/targets?limit={PAGE}&offset={offset}"), "GET")
        spent += resp.seconds
        items = resp.json()["items"]
        names += [row["name"] for row in items]
        unreachable += sum(not row["reachable"] for row in items)
    assert names == made.names, "the pages did not list every target once, in order"
    assert unreachable == made.broken, (unreachable, made.broken)
    return spent
