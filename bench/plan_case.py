"""6. POST /plan of N revisions against `flask db upgrade --sql` on the same directory, and the
rollback plan's findings per second (each finding checked against the live database)."""

from __future__ import annotations

from bench import client, databases
from bench.processes import flask_db, timed_command
from bench.report import Row, median, spread, verdict


def plan(s) -> list[Row]:
    """The plan from base renders what `upgrade --sql` renders, analyses each step and renders
    each step's downgrade (to tell what cannot be undone); goal: at most 1 s more."""
    from bench.cases import log  # the one progress printer

    n = s.upgrade_n
    path, ids = s.directory(n)
    rows = []
    for kind in s.databases:
        name = "SQLite" if kind == "sqlite" else "PostgreSQL"
        log(f"[6] POST /plan vs flask db upgrade --sql, N={n}, {kind}")
        ours, cli, rollback, found = [], [], [], 0
        with databases.target(kind, s.scratch) as url, s.server(path, url) as srv:
            srv.wait_ready("/health")
            client.expect_ok(client.get(srv.port, "/revisions?limit=1"), "GET /revisions")
            ask = {"action": "upgrade", "target": "head"}
            for _ in range(s.runs):  # alternated, so drift on the machine touches both alike
                resp = client.expect_ok(client.post(srv.port, "/plan", ask), "POST /plan")
                assert len(resp.json()["steps"]) == n
                ours.append(resp.seconds)
                elapsed, out = timed_command(flask_db("upgrade", "--sql"), s.env(path, url))
                assert f"Running upgrade  -> {ids[0]}" in out or ids[0] in out
                cli.append(elapsed)
            client.expect_ok(client.post(srv.port, "/upgrade", {"target": "head"}), "upgrade")
            back = {"action": "downgrade", "target": "base"}
            for _ in range(s.runs):
                resp = client.expect_ok(client.post(srv.port, "/plan", back), "POST /plan down")
                found = len(resp.json()["findings"])
                rollback.append(resp.seconds)
        added = median(ours) - median(cli)
        rows.append(
            Row(
                f"6. POST /plan base→head (warm) vs `flask db upgrade --sql`, N={n}, {name}",
                spread(ours),
                spread(cli),
                f"{median(ours) / median(cli):.2f} ({added:+.2f} s)",
                "adds ≤ 1 s",
                verdict(added <= 1.0),
            )
        )
        rate = found / median(rollback)
        rows.append(
            Row(
                f"6. POST /plan head→base, N={n}, {name}: {found} findings, each with live facts",
                spread(rollback),
                "—",
                f"{rate:.0f} findings/s",
                "report",
                "—",
            )
        )
    return rows
