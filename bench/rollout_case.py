"""9. A rollout of one migrations directory to a fleet of SQLite tenants (POST /rollouts) against
what a team runs today: a shell loop of `flask db upgrade` per tenant, timed on a sample."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import redis

from bench import client, databases
from bench.processes import BIN, Gunicorn, started, stop, timed_command
from bench.report import Row, median, seconds, skipped, verdict

REVISIONS = 20
WAVES = [1, "10%", "100%"]
PARALLELISM = 8
GOAL = 1000  # tenants a minute, on this 2-core machine
POLL = 0.25  # seconds between two looks at the rollout while it runs
# The Celery variant's broker: the Redis the README's Celery command names, on a queue of
# the run's own (CELERY_QUEUE), so nothing else on it is touched.
BROKER = "redis://127.0.0.1:6379/0"


def rollout(s) -> list[Row]:
    """Tenants a minute of a whole rollout, from POST /rollouts to its end, on each engine;
    goal: at least 1,000 a minute. The reference is timed on a sample and scaled."""
    from bench.cases import log  # the one progress printer

    n, path = s.rollout_n, s.directory(REVISIONS)[0]
    head = s.directory(REVISIONS)[1][-1]
    log(f"[9] reference: `flask db upgrade` per tenant, a sample of {s.rollout_sample}")
    sample = _tenants(s.scratch / "rollout-reference", s.rollout_sample)
    per_tenant = []
    for tenant in sample:
        env = s.env(path, f"sqlite:///{tenant}")
        per_tenant.append(timed_command(_flask_db_upgrade(), env)[0])
        assert _version(tenant) == head, tenant
    loop_minutes = median(per_tenant) * n / 60
    reference = (
        f"`flask db upgrade` per tenant: {seconds(median(per_tenant))} "
        f"(median of {len(per_tenant)}) × {n} = {loop_minutes:.1f} min "
        f"({n / loop_minutes:.0f} tenants/min)"
    )
    rows = []
    for engine in ("process pool", "Celery, 2 workers"):
        label = f"9. POST /rollouts upgrade, {n} SQLite tenants × {REVISIONS} revisions, {engine}"
        if engine.startswith("Celery") and not _broker_reachable():
            rows.append(skipped(label, f"no Redis at {BROKER}"))
            continue
        log(f"[9] rollout to {n} tenants, {engine}")
        elapsed = _rolled_out(s, path, n, head, engine)
        rate = n / elapsed * 60
        rows.append(
            Row(
                f"{label}: tenants/min",
                f"{rate:.0f} ({seconds(elapsed)} in all)",
                reference,
                f"{loop_minutes * 60 / elapsed:.1f}x faster",
                f"≥ {GOAL}/min",
                verdict(rate >= GOAL),
            )
        )
    return rows


def _rolled_out(s, path: Path, n: int, head: str, engine: str) -> float:
    """Seconds from POST /rollouts to the GET that saw it end; checks every tenant is at head."""
    directory = s.scratch / f"rollout-{engine.split(',')[0].replace(' ', '-')}"
    tenants = _tenants(directory, n)
    targets = [{"name": p.stem, "url": f"sqlite:///{p}"} for p in tenants]
    targets_file = directory / "targets.json"
    targets_file.write_text(json.dumps(targets))
    env = dict(
        s.env(path, databases.sqlite_url(s.scratch)), MIGRATEWAY_TARGETS_FILE=str(targets_file)
    )
    celery = _celery_workers(s, env) if engine.startswith("Celery") else nullcontext()
    with celery, Gunicorn("wsgi:app", env, 1, log=s.scratch / "gunicorn.log") as srv:
        srv.wait_ready("/health")
        return _timed_rollout(srv.port, tenants, head)


@contextmanager
def _celery_workers(s, env: dict[str, str]) -> Iterator[None]:
    """Two Celery worker processes, started with the README's command (one worker,
    ``--concurrency 2``: as many processes as the pool's), on a queue of this run's own
    that is removed from the broker after it."""
    queue = f"migrateway-bench-{uuid.uuid4().hex[:12]}"
    env.update(CELERY_BROKER_URL=BROKER, CELERY_QUEUE=queue)
    log = s.scratch / "celery.log"
    command = [str(BIN / "celery"), "-A", "api.rollouts.celery_worker", "worker"]
    named = ["--hostname", f"{queue}@bench", "--loglevel", "INFO"]  # INFO says when it is ready
    worker = started([*command, "--concurrency", "2", *named], env, log)
    try:
        deadline = time.monotonic() + 60
        while f"{queue}@bench ready." not in log.read_text(errors="replace"):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start; see {log}")
            time.sleep(0.1)
        yield
    finally:
        stop(worker)
        broker = redis.Redis.from_url(BROKER)
        try:
            for key in broker.scan_iter(match=f"*{queue}*"):
                broker.delete(key)
        finally:
            broker.close()


def _timed_rollout(port: int, tenants: list[Path], head: str) -> float:
    body = {"action": "upgrade", "waves": WAVES, "parallelism": PARALLELISM}
    start = time.perf_counter()
    resp = client.post(port, "/rollouts", body)
    if resp.status != 202:
        raise RuntimeError(f"POST /rollouts answered {resp.status}: {resp.body[:500]!r}")
    rollout_id = resp.json()["id"]
    while True:  # the listing's row (counts, no targets): watching costs the service little
        (row,) = client.expect_ok(client.get(port, "/rollouts?limit=1"), "GET").json()["items"]
        assert row["id"] == rollout_id, row
        if row["status"] != "running":
            break
        time.sleep(POLL)
    elapsed = time.perf_counter() - start
    location = f"/rollouts/{rollout_id}"
    state = client.expect_ok(client.get(port, location), f"GET {location}").json()
    failed = [x for x in state["targets"] if x["status"] != "succeeded"]
    assert state["status"] == "succeeded", (state["status"], failed[:3])
    behind = [p for p in tenants if _version(p) != head]
    assert not behind, f"{len(behind)} tenants not at head, e.g. {behind[:3]}"
    return elapsed


def _broker_reachable() -> bool:
    broker = redis.Redis.from_url(BROKER, socket_connect_timeout=3)
    try:
        return bool(broker.ping())
    except redis.RedisError:
        return False
    finally:
        broker.close()


def _tenants(directory: Path, n: int) -> list[Path]:
    """``n`` empty SQLite files (new tenants, at base) on the scratch directory's disk."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"tenant-{i:05d}.sqlite" for i in range(n)]
    for p in paths:
        p.touch()
    return paths


def _flask_db_upgrade() -> list[str]:
    return [str(BIN / "flask"), "--app", "bench.tenant_app", "db", "upgrade"]


def _version(path: Path) -> str | None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    finally:
        conn.close()
    return rows[0][0] if len(rows) == 1 else None
