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
    Answer,
    Chaos,
    around,
    brief,
    counts,
    describe,
    documented_problem_types,
    epoch,
    restarting,
    same_answer,
    server_errors,
)
from tests.databases import server_port
from tests.revision_graph import MigrationsDir
from tests.servers import Gunicorn, Proxy
from tests.soak_database import SLOW, Database, audited_chain

CHAOS_SECONDS = float(os.environ.get("SOAK_SECONDS", 45))
REVISIONS = 8
CLIENTS = 6
KILLS = 3  # SIGKILLs of a server, each replaced by a new one
RESTARTS = 2  # database restarts (PostgreSQL, MariaDB): every connection dropped, then refused
SESSION_KILLS = 2  # the lock holder's session ended (PostgreSQL, MariaDB), its process alive
SETTLE_SECONDS = 30
# What a migration may still record after its lock is lost once its last revision committed.
BOOKKEEPING = 0.1
# Problems whose operation_id is the request's own operation (recovery-required's is not).
OWN_OPERATION = {
    "migration-failed",
    "lock-lost",
    "operation-in-progress",
    "operation-interrupted",
    "idempotency-key-reused",
}


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


def answer_problems(chaos: Chaos, ops: dict[str, dict], problems: dict[str, list[str]]) -> None:
    """Every answer against the log: no 5xx but 503 during a restart, 4xx documented
    problems, 2xx `to` as logged, a replay equal to the first answer, one operation a key."""
    known = documented_problem_types()
    by_key = {op["idempotency_key"]: op for op in ops.values() if op["idempotency_key"]}
    named = defaultdict(set)
    originals: dict[str, Answer] = {}  # the answer of the request that ran each key
    replays: dict[str, list[Answer]] = defaultdict(list)
    for a in chaos.answers:
        what = f"{a.call} {a.request.body if a.request else ''} key={a.request and a.request.key}"
        if a.status is None:
            if a.error == "timeout" or not a.server_killed:
                problems["no answer"].append(f"{a.error} from a live server: {what}")
            continue
        detail = (a.body or {}).get("detail") if a.status >= 400 else None
        during = " during a restart" if restarting(chaos, a) else ""
        if a.status >= 500 and not (during and a.type == "database-unavailable"):
            problems[f"{a.status} {a.type}{during}"].append(f"{what}: {detail}")
        if a.status >= 400 and a.media_type != "application/problem+json":
            problems["not problem+json"].append(f"{a.status} {a.media_type}: {what}")
        elif 400 <= a.status < 500 and a.type not in known:
            problems["undocumented problem"].append(f"{a.status} {a.type}: {what}")
        if not a.call.startswith("POST") or a.body is None:
            continue
        # The operation this request ran, or replays (recovery-required names another one).
        own = a.status in (200, 202) or a.type in OWN_OPERATION
        op_id = a.body.get("id" if a.status == 202 else "operation_id") if own else None
        op = ops.get(op_id, {})
        if a.request.key and op_id:
            named[a.request.key].add(op_id)
        if own and not op:
            problems["answer names no logged operation"].append(f"{a.status} {op_id}: {what}")
        if a.status == 200:
            logged = json.loads(op.get("to_revisions") or "null")
            if op.get("status") != "succeeded" or sorted(logged or []) != sorted(a.body["to"]):
                problems["200 `to` not as logged"].append(
                    f"to={a.body['to']} but operation {op_id} is "
                    f"{op.get('status')} to={logged}: {what}"
                )
            if a.request.expected is not None and set(a.body["from"]) != set(a.request.expected):
                problems["precondition ignored"].append(f"from={a.body['from']}: {what}")
        first = by_key.get(a.request.key, {})
        ran_it = a.status in (200, 202) or a.type in ("migration-failed", "lock-lost")
        if a.replayed:
            replays[a.request.key].append(a)
        elif ran_it and first and first["id"] == op_id:
            originals[a.request.key] = a
    # A retry gets the first answer again: the same result, problem or accepted operation.
    for key, replayed in replays.items():
        original = originals.get(key)
        for a in replayed:
            if original is not None and not same_answer(original, a):
                problems["replay differs from the first answer"].append(
                    f"first {original.status} {original.type}, replayed {a.status} {a.type} "
                    f"for key {key}: {describe(a)}"
                )
    for key, ids in named.items():
        answered = [i for i in ids if ops.get(i, {}).get("status") != "interrupted"]
        if len(answered) > 1:
            problems["key ran twice"].append(f"Idempotency-Key {key}: operations {answered}")


def database_problems(chaos: Chaos, ops: list[dict], problems: dict[str, list[str]]) -> None:
    """The database read directly: nothing running, lock free, interrupted operations flagged
    where DDL commits, one revision running at a time, version matching the tables, each
    revision run alternately up and down."""
    db, revisions = chaos.db, chaos.revisions
    for op in ops:
        name = f"operation {op['id']} ({op['kind']} to {op['target']})"
        if op["status"] == "running":
            problems["left running"].append(name)
        unflagged = not (db.transactional_ddl or op["partial_possible"])
        if op["status"] == "interrupted" and op["running_revision"] and unflagged:
            problems["interrupted, not partial_possible"].append(
                f"{name} in {op['running_revision']}"
            )
    if not db.lock_free():
        problems["lock held"].append("the migration lock is held after settling")
    # A revision's row is written SLOW s before its DDL, and committed with it or after it:
    # whatever ran next, in any process, wrote its row at least SLOW s later. Rows of two
    # processes closer than that: both were inside a revision at once.
    audit = db.audit()
    by_time = sorted(audit, key=lambda row: row[3])
    for (seq, rev, way, at, pid), (seq2, rev2, way2, at2, pid2) in zip(
        by_time, by_time[1:], strict=False
    ):
        if pid != pid2 and epoch(at2) - epoch(at) < SLOW - 0.01:
            problems["two migrations at once"].append(
                f"{way} {rev} #{seq} at {at[11:23]} pid {pid}, {way2} {rev2} #{seq2} at "
                f"{at2[11:23]} pid {pid2}; logged around: {around(ops, epoch(at), epoch(at2))}"
            )
    done = [op for op in ops if op["status"] == "succeeded" and not op["sql"]]
    done.sort(key=lambda op: epoch(op["started_at"]))
    for one, other in zip(done, done[1:], strict=False):  # each recorded under the lock
        if epoch(other["started_at"]) < epoch(one["finished_at"]) - BOOKKEEPING:
            problems["two migrations at once"].append(f"{brief(one)} and {brief(other)}")
    version, tables = db.state()
    n = revisions.index(min(version)) + 1 if len(version) == 1 else 0
    changes = sorted((op for op in ops if not op["sql"]), key=lambda op: op["started_at"])
    flagged = changes and changes[-1]["partial_possible"]
    if (len(version) > 1 or tables != {f"t_{r}" for r in revisions[:n]}) and not flagged:
        last = changes[-1] if changes else {}
        problems["version does not match the tables"].append(
            f"version {sorted(version)}, tables "
            f"{sorted(tables)}; the last operation {last.get('id')} ({last.get('kind')}, "
            f"{last.get('status')}) does not say partial_possible"
        )
    runs = defaultdict(list)
    for seq, rev, direction, at, pid in audit:
        runs[rev].append((direction, f"{direction} #{seq} at {at[11:23]} pid {pid}", epoch(at)))
    for rev in revisions:
        for (before, row_a, at_a), (direction, row_b, at_b) in zip(
            [("down", "(none)", 0.0), *runs[rev]], runs[rev], strict=False
        ):
            if direction == before:
                problems["revision ran twice"].append(
                    f"{rev} {direction} twice: {row_a}, then {row_b}; migrations logged "
                    f"around: {around(ops, at_a or at_b, at_b)}"
                )
        applied = bool(runs[rev]) and runs[rev][-1][0] == "up"
        if applied != (f"t_{rev}" in tables):
            rows = [row for _, row, _ in runs[rev][-2:]]
            problems["audit does not match the tables"].append(f"{rev}: audit ends {rows}")
