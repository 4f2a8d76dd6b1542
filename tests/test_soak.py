"""Soak test (issue 12): two servers on one database, concurrent clients with random targets,
reused Idempotency-Keys, If-Match and respond-async; meanwhile servers are SIGKILLed and, on
PostgreSQL and MariaDB, the database restarts (a proxy drops and refuses every connection)
and the lock holder's session is ended. Then, settled, the database read directly and every
answer must tell one consistent story.

Replay a failure with SOAK_SEED=<seed> (the threads' timing still differs); soak longer with
SOAK_SECONDS. Run with -s (or -rA) to see the counts.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import traceback
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy.engine import make_url

from tests.chaos import (
    Chaos,
    counts,
    describe,
    server_errors,
)
from tests.databases import server_port
from tests.revision_graph import MigrationsDir
from tests.servers import Gunicorn, Proxy
from tests.soak_checks import answer_problems, database_problems
from tests.soak_database import SLOW, Database, audited_chain

# 10 s a backend keeps the whole suite well under its 10 minutes; every event below still
# happens (late, when the ones before ran long), only closer together; each run draws a new
# seed, so the runs add up (SOAK_SECONDS=300 for a long one).
CHAOS_SECONDS = float(os.environ.get("SOAK_SECONDS", 10))
REVISIONS = 8
CLIENTS = 6
KILLS = 3  # SIGKILLs of a server, each replaced by a new one
RESTARTS = 2  # database restarts (PostgreSQL, MariaDB): every connection dropped, then refused
SESSION_KILLS = 2  # the lock holder's session ended (PostgreSQL, MariaDB), its process alive
SETTLE_SECONDS = 30
# What a migration may still record after its lock is lost once its last revision committed.

# Problems whose operation_id is the request's own operation (recovery-required's is not).


def test_soak(database_url, backend, tmp_path):
    seed = int(os.environ.get("SOAK_SEED") or random.randrange(10**6))
    migrations = MigrationsDir(tmp_path / "soak")
    revisions = audited_chain(migrations, REVISIONS)
    proxy = None if backend == "sqlite" else Proxy(server_port(database_url))
    served = database_url
    if proxy is not None:
        served = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
        served = served.render_as_string(hide_password=False)
    env = {
        "DATABASE_URL": served,
        "MIGRATIONS_DIR": str(migrations.path),
        "DB_CONNECT_TIMEOUT": "2",
    }
    started: list[Gunicorn] = []

    def start_server() -> Gunicorn:
        started.append(Gunicorn(env))
        return started[-1]

    with Database(database_url) as db:
        try:
            chaos = Chaos(seed, [start_server(), start_server()], revisions, db)
            crashes = run_chaos(chaos, random.Random(seed), proxy, start_server)
            problems = defaultdict(list, {"test crashed": crashes} if crashes else {})
            if chaos.unrecoverable:
                problems["operator could not recover"] = sorted(set(chaos.unrecoverable))
            if settle(chaos):  # then retry the keys of interrupted operations, and settle again
                retry_interrupted_keys(chaos, problems)
            if not settle(chaos):
                problems["settle"].append(f"operations still running after {SETTLE_SECONDS} s")
            ops = {op["id"]: op for op in db.operations()}
            answer_problems(chaos, ops, problems)
            database_problems(chaos, list(ops.values()), problems)
            title = f"soak on {backend}, seed {seed}, {CHAOS_SECONDS:g} s, {CLIENTS} clients"
            report = counts(chaos, list(ops.values()), title)
        finally:
            outputs = "".join(server.stop() for server in started)
            if proxy is not None:
                proxy.close()
            (tmp_path / "servers.log").write_text(outputs)
    report += f"\nserver errors logged: {server_errors(outputs)}"
    print(report)
    assert not problems, f"{report}\n{describe(problems)}\nserver logs: {tmp_path / 'servers.log'}"


def run_chaos(chaos: Chaos, rng: random.Random, proxy: Proxy | None, start_server) -> list[str]:
    """Clients keep both servers busy while, each time inside a revision, a server is killed,
    the database restarts, or the lock holder's session is ended."""
    plan = {"SIGKILL": KILLS, "restart": RESTARTS, "session kill": SESSION_KILLS}
    if proxy is None:  # SQLite: no server to restart, no session to end
        plan = {"SIGKILL": KILLS}
    events = sorted(
        (CHAOS_SECONDS * (i + rng.uniform(0.2, 0.8)) / n, event)
        for event, n in plan.items()
        for i in range(n)
    )
    crashes: list[str] = []

    def client(name: str) -> None:
        try:
            chaos.client(name)
        except Exception:  # a bug in the test, reported as such
            crashes.append(traceback.format_exc())

    clients = [threading.Thread(target=client, args=(f"c{i}",)) for i in range(CLIENTS)]
    begin = time.monotonic()
    for thread in clients:
        thread.start()
    try:
        for at, event in events:
            time.sleep(max(0.0, begin + at - time.monotonic()))
            chaos.db.wait_inside_a_revision(timeout=3)
            time.sleep(rng.uniform(0, 2 * SLOW))
            when = f"{datetime.now(UTC):%H:%M:%S.%f}"[:12]
            if event == "SIGKILL":
                i = rng.randrange(2)
                chaos.killed.add(chaos.servers[i].port)
                chaos.servers[i].kill()
                chaos.servers[i] = start_server()
            elif event == "restart":
                down = time.time()
                proxy.cut("refuse")
                time.sleep(rng.uniform(1.5, 3))
                proxy.restore()
                chaos.outages.append((down, time.time()))
            elif not chaos.db.kill_lock_holder():
                event += " (lock free)"
            chaos.timeline.append(f"{when} {event}")
        time.sleep(max(0.0, begin + CHAOS_SECONDS - time.monotonic()))
    finally:
        chaos.stop.set()
        for thread in clients:
            thread.join()
    return crashes


def settle(chaos: Chaos) -> bool:
    """Wait until no operation is running: the service marks one of a dead process
    interrupted once it sees the lock free (on GET /operations)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        chaos.call(chaos.servers[0], "GET", "/operations?limit=1")
        if not any(op["status"] == "running" for op in chaos.db.operations()):
            return True
        time.sleep(0.5)
    return False


def retry_interrupted_keys(chaos: Chaos, problems: dict[str, list[str]]) -> None:
    """Retry every request whose key named an operation that was interrupted: it is not in
    progress any more, so the key must not answer operation-in-progress (a burnt key)."""
    ops = chaos.db.operations()
    interrupted = {op["idempotency_key"]: op["id"] for op in ops if op["status"] == "interrupted"}
    for request in {(r.key, json.dumps(r.body), r.if_match): r for r in chaos.keyed}.values():
        if request.key in interrupted:
            answer = chaos.send(chaos.servers[0], request)
            if answer.type == "operation-in-progress":
                op = interrupted[request.key]
                problems["key burnt"].append(f"{request.key}: interrupted operation {op}")
