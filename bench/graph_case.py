"""7. GET /revisions/graph at N revisions: DOT and Mermaid against GET /revisions of the same
graph, and SVG against Graphviz's dot alone on the same DOT text."""

from __future__ import annotations

import shutil
import subprocess
import time

import sqlalchemy as sa

from bench import client, databases
from bench.report import Row, median, skipped, spread


def graph(s) -> list[Row]:
    """The picture of a branched graph with the database half-way; goal: report."""
    from bench.cases import log  # the one progress printer

    n = s.current_n
    path, ids = s.directory(n, "branched")
    url = databases.sqlite_url(s.scratch)
    databases.stamp(url, [ids[n // 2]])
    log(f"[7] GET /revisions/graph vs GET /revisions and dot alone, N={n} branched")
    rows = []
    with s.server(path, url) as srv:
        srv.wait_ready("/health")
        client.expect_ok(client.get(srv.port, "/revisions/graph"), "GET /revisions/graph")
        listing = client.timed_gets(srv.port, "/revisions", s.requests)
        for fmt in ("dot", "mermaid"):
            ours = client.timed_gets(srv.port, f"/revisions/graph?format={fmt}", s.requests)
            rows.append(
                Row(
                    f"7. GET /revisions/graph?format={fmt}, N={n} branched, half applied",
                    spread(ours),
                    f"GET /revisions {spread(listing)}",
                    f"{median(ours) / median(listing):.2f}",
                    "report",
                    "—",
                )
            )
        if shutil.which("dot") is None:
            return [*rows, skipped("7. ?format=svg", "Graphviz's dot is not installed")]
        drawn, alone, cached = [], [], []
        for i in range(s.runs):
            # Another current revision each run: a new picture, which the service must draw.
            _move(url, ids[n // 2 + 1 + i])
            resp = client.expect_ok(client.get(srv.port, "/revisions/graph?format=svg"), "svg")
            drawn.append(resp.seconds)
            cached.append(client.get(srv.port, "/revisions/graph?format=svg").seconds)
            source = client.get(srv.port, "/revisions/graph?format=dot").body
            start = time.perf_counter()
            subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True, check=True)
            alone.append(time.perf_counter() - start)
    rows.append(
        Row(
            f"7. GET /revisions/graph?format=svg (a new picture), N={n} branched",
            spread(drawn),
            f"`dot -Tsvg` alone {spread(alone)}",
            f"{median(drawn) / median(alone):.2f}",
            "report",
            "—",
        )
    )
    rows.append(
        Row(
            f"7. GET /revisions/graph?format=svg (the same picture again), N={n} branched",
            spread(cached),
            "—",
            "—",
            "report",
            "—",
        )
    )
    return rows


def _move(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()
