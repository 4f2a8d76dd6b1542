"""The five comparisons of the issue; each measures Migrateway and its reference in the same run."""

from __future__ import annotations

import compileall
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import client, databases, floor, wrk
from bench.generate import generate
from bench.processes import Gunicorn, child_env, flask_db, rss_mb, timed_command
from bench.report import Row, median, seconds, skipped, spread, verdict


@dataclass
class Settings:
    scratch: Path
    history_sizes: list[tuple[int, str]]  # (N, shape) for GET /revisions vs flask db history
    current_n: int
    upgrade_n: int
    cold_n: int
    runs: int  # whole-process or cold-start repetitions per side
    requests: int  # timed warm requests
    wrk_seconds: int
    rounds: int  # alternated wrk runs per side
    databases: list[str]  # "sqlite", and "postgresql" when it is reachable
    bytecode: bool
    fleet_n: int = 10000  # tenants of GET /targets (case 8)
    _dirs: dict = field(default_factory=dict)

    def directory(self, n: int, shape: str = "linear") -> tuple[Path, list[str]]:
        """A generated migrations directory, made once per run; its path and revision ids."""
        if (n, shape) not in self._dirs:
            path = self.scratch / f"migrations-{shape}-{n}"
            ids = generate(path, n, shape)
            if self.bytecode:  # as a deploy that ships or keeps __pycache__ would have it
                compileall.compile_dir(path / "versions", quiet=1)
            # The service re-lists a directory changed within the last second on every request
            # (GraphCache): let it settle, as a directory deployed before the service started has.
            time.sleep(1.5)
            self._dirs[(n, shape)] = (path, ids)
        return self._dirs[(n, shape)]

    def env(self, path: Path, url: str) -> dict[str, str]:
        return child_env(self.bytecode, MIGRATIONS_DIR=str(path), DATABASE_URL=url)

    def server(self, path: Path, url: str, workers: int = 1) -> Gunicorn:
        return Gunicorn("wsgi:app", self.env(path, url), workers, log=self.scratch / "gunicorn.log")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def history(s: Settings) -> list[Row]:
    """1. warm GET /revisions (full history) vs `flask db history`; and the cost of one page."""
    rows, page = [], {}
    for n, shape in s.history_sizes:
        path, ids = s.directory(n, shape)
        url = databases.sqlite_url(s.scratch)
        databases.stamp(url, [ids[-1]])
        log(f"[1] GET /revisions vs flask db history, N={n} {shape}")
        with s.server(path, url) as srv:
            srv.wait_ready("/health")
            body = client.expect_ok(client.get(srv.port, "/revisions"), "GET /revisions").json()
            assert body["total"] == n and len(body["items"]) == n, body["total"]
            full = client.timed_gets(srv.port, "/revisions", s.requests)
            # A page takes about 3 ms, near this machine's noise: more requests than for the
            # full listing, so one slow moment does not move the median.
            pages = client.timed_gets(srv.port, "/revisions?limit=10", 3 * s.requests)
            page[n] = median(pages)
        cli = []
        for _ in range(s.runs):
            elapsed, out = timed_command(flask_db("history"), s.env(path, url))
            assert len(out.splitlines()) == n, "flask db history did not list every revision"
            cli.append(elapsed)
        speedup = median(cli) / median(full)
        goal = n == 1000
        rows.append(
            Row(
                f"1. warm GET /revisions (full) vs `flask db history`, N={n} {shape}, SQLite",
                spread(full),
                spread(cli),
                f"{speedup:.1f}x faster",
                "≥ 50x" if goal else "— (goal at N=1000)",
                verdict(speedup >= 50 if goal else None),
            )
        )
    small, large = min(page), max(page)
    if small != large:
        ratio = page[large] / page[small]
        rows.append(
            Row(
                f"1b. warm GET /revisions?limit=10 at N={large} vs at N={small} (O(limit))",
                seconds(page[large]),
                seconds(page[small]),
                f"{ratio:.2f}",
                "≈ 1 (≤ 1.5)",
                verdict(ratio <= 1.5),
            )
        )
    return rows


def current(s: Settings) -> list[Row]:
    """2. GET /current under wrk, 2 workers and 16 connections, vs a bare Flask endpoint."""
    measure = f"2. GET /current, 2 workers, wrk 16 conns, N={s.current_n}"
    if not wrk.available():
        return [skipped(measure, "wrk is not installed (apt-get install -y wrk)")]
    path, ids = s.directory(s.current_n)
    rows = []
    for kind in s.databases:
        with databases.target(kind, s.scratch) as url:
            databases.stamp(url, [ids[-1]])  # up to date: the state a service spends its life in
            log(f"[2] GET /current under wrk, {kind}: bare Flask and Migrateway, alternated")
            bare = Gunicorn("bench.bare_app:app", s.env(path, url), 2, log=s.scratch / "bare.log")
            with bare, s.server(path, url, workers=2) as srv:
                bare.wait_ready("/current")
                srv.wait_ready("/health")
                state = client.expect_ok(client.get(srv.port, "/current"), "GET /current").json()
                assert state["up_to_date"] and state["current"] == [ids[-1]], state
                servers = {"ref": bare, "ours": srv}
                urls = {name: f"http://127.0.0.1:{g.port}/current" for name, g in servers.items()}
                for u in urls.values():
                    wrk.run(u, 3)  # warm every worker (Migrateway's each load the graph)
                loads = {"ref": [], "ours": []}
                repeated = {"ref": 0, "ours": 0}
                for _ in range(s.rounds):  # alternated, so a busy moment on the machine hits both
                    for name, u in urls.items():
                        load, lopsided = _both_workers_run(servers[name], u, s.wrk_seconds)
                        loads[name].append(load)
                        repeated[name] += lopsided
        label = f"{measure}, {'SQLite' if kind == 'sqlite' else 'PostgreSQL'}"
        rows += _load_rows(label, **loads, repeated=repeated)
    return rows


def _both_workers_run(server: Gunicorn, url: str, seconds: int) -> tuple[wrk.Load, int]:
    """A wrk run in which both workers served; and how many runs were repeated because one
    worker had taken all 16 keep-alive connections and the other idled.

    gunicorn's workers share one listening socket, and which one accepts a connection is up
    to the scheduler: now and then one takes them all, and requests/s halves. That measures
    the lottery, not the app, and it falls on either side by chance.
    """
    repeated = 0
    while True:
        before = server.worker_cpu()
        load = wrk.run(url, seconds)
        used = [after - b for b, after in zip(before, server.worker_cpu(), strict=True)]
        if min(used) >= 0.1 * sum(used) or repeated == LOPSIDED_RETRIES:
            return load, repeated
        repeated += 1


LOPSIDED_RETRIES = 3  # then the lopsided run counts: the table shows it in the range


def _load_rows(
    label: str, ours: list[wrk.Load], ref: list[wrk.Load], repeated: dict[str, int]
) -> list[Row]:
    errors = sum(x.errors for x in ours), sum(x.errors for x in ref)
    if any(errors):
        return [skipped(label, f"errors under load: Migrateway {errors[0]}, bare {errors[1]}")]
    rps, ref_rps = [x.rps for x in ours], [x.rps for x in ref]
    ratio = median(rps) / median(ref_rps)
    met = verdict(ratio >= 0.5)
    cells = (
        spread(rps, "{:.0f}".format) + _repeats(repeated["ours"]),
        spread(ref_rps, "{:.0f}".format) + _repeats(repeated["ref"]),
    )
    rows = [Row(f"{label}: requests/s", *cells, f"{ratio:.2f}", "≥ 0.5", met)]
    for name in ("p50", "p99"):
        a = median([getattr(x, f"{name}_ms") for x in ours])
        b = median([getattr(x, f"{name}_ms") for x in ref])
        cells = (f"{a:.2f} ms", f"{b:.2f} ms", f"{a / b:.2f}", "report", "—")
        rows.append(Row(f"{label}: {name} latency", *cells))
    return rows


def _repeats(count: int) -> str:
    return f", {count} run{'s' if count != 1 else ''} repeated" if count else ""


def upgrade(s: Settings) -> list[Row]:
    """3. POST /upgrade base to head (warm service) vs `flask db upgrade`, on fresh databases."""
    n = s.upgrade_n
    path, ids = s.directory(n)
    rows = []
    for kind in s.databases:
        log(f"[3] POST /upgrade vs flask db upgrade, N={n}, {kind}")
        ours, cli = [], []
        for _ in range(s.runs):  # alternated, so drift on the machine touches both alike
            with databases.target(kind, s.scratch) as url, s.server(path, url) as srv:
                srv.wait_ready("/health")
                client.expect_ok(client.get(srv.port, "/revisions?limit=1"), "GET /revisions")
                resp = client.expect_ok(
                    client.post(srv.port, "/upgrade", {"target": "head"}), "POST /upgrade"
                )
                body = resp.json()
                assert len(body["applied"]) == n and body["to"] == [ids[-1]], body["to"]
                ours.append(resp.seconds)
            with databases.target(kind, s.scratch) as url:
                elapsed, _ = timed_command(flask_db("upgrade"), s.env(path, url))
                assert databases.version(url) == [ids[-1]]
                cli.append(elapsed)
        ratio = median(ours) / median(cli)
        name = "SQLite" if kind == "sqlite" else "PostgreSQL"
        rows.append(
            Row(
                f"3. POST /upgrade base→head (warm service) vs `flask db upgrade`, N={n}, {name}",
                spread(ours),
                spread(cli),
                f"{ratio:.2f}",
                "≤ 1.10",
                verdict(ratio <= 1.10),
            )
        )
    return rows


def cold_start(s: Settings) -> list[Row]:
    """4. first GET /revisions after start vs a regex read of the files; 5. worker memory."""
    n = s.cold_n
    path, ids = s.directory(n)
    url = databases.sqlite_url(s.scratch)
    databases.stamp(url, [ids[-1]])
    floor_s, found = floor.time_floor(str(path / "versions"))
    assert found == n, found
    first = {"/revisions": [], "/revisions?limit=20": []}
    before, after = [], []
    log(f"[4,5] first GET /revisions after start, N={n} ({s.runs} starts per query)")
    for _ in range(s.runs):
        for query, times in first.items():
            with s.server(path, url) as srv:
                srv.wait_ready("/health")  # /health does not load the graph
                (worker,) = srv.worker_pids()
                rss_before = rss_mb(worker)
                resp = client.expect_ok(client.get(srv.port, query), f"GET {query}")
                times.append(resp.seconds)
                if query == "/revisions":
                    assert resp.json()["total"] == n
                    before.append(rss_before)
                    after.append(rss_mb(worker))
    rows = []
    for query, times in first.items():
        ratio = median(times) / floor_s
        rows.append(
            Row(
                f"4. first GET {query} after start vs regex read of the files, N={n}",
                spread(times),
                seconds(floor_s),
                f"{ratio:.1f}x",
                "≤ 3x",
                verdict(ratio <= 3),
            )
        )
    mem = median(after)
    rows.append(
        Row(
            f"5. RSS of one worker with N={n} loaded (reference: same worker before loading)",
            f"{mem:.0f} MB",
            f"{median(before):.0f} MB",
            f"{mem / median(before):.2f}",
            "≤ 150 MB",
            verdict(mem <= 150),
        )
    )
    return rows
