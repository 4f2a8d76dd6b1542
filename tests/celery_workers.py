"""Celery for tests: the brokers (Redis, RabbitMQ), a queue of a test's own on them, and real
worker processes (`celery -A api.rollouts.celery_worker worker`) that a test can kill."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from kombu import Connection

from api.config import PROJECT_ROOT

IN_CI = os.environ.get("CI", "").lower() == "true"
# TEST_CELERY_BROKERS overrides them: name=url pairs, comma-separated.
DEFAULT_BROKERS = {
    # Database 0 is left to the developer; tests isolate themselves by queue name.
    "redis": "redis://127.0.0.1:6379/9",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
}
CELERY = str(Path(sys.executable).with_name("celery"))
# What a worker logs when a process of its pool was killed.
KILLED = "exited with 'signal 9 (SIGKILL)'"
# Celery's prefork pool may notice a killed process only at its next maintenance, every
# POOL_MAINTENANCE seconds: AsynPool stops watching a process once its pipe closes, and one
# the kernel does not yet let it reap then is found by that timer alone. RUN: time enough for
# a task to be redelivered and run in a new process of the pool.
POOL_MAINTENANCE, RUN = 5.0, 10.0


def brokers() -> dict[str, str]:
    """Broker name -> URL."""
    raw = os.environ.get("TEST_CELERY_BROKERS")
    if not raw:
        return dict(DEFAULT_BROKERS)
    return dict(pair.strip().split("=", 1) for pair in raw.split(",") if pair.strip())


def reachable_broker(name: str) -> str:
    """The URL of broker ``name``; the test fails (CI) or skips when it cannot be reached."""
    url = brokers()[name]
    try:
        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # kombu raises the transport's own errors
        if IN_CI:
            pytest.fail(f"broker {name} must be reachable under CI=true: {exc}")
        pytest.skip(f"broker {name} not reachable: {exc}")
    return url


def own_database(url: str) -> str:
    """Broker ``url`` on the next database of its Redis server (redis://host/9 -> /10).

    Kombu keeps the messages taken and not acknowledged in one index per database, and a
    worker puts back every one of them older than its own visibility timeout, whatever its
    queue: a test whose workers have a short one needs a database no other test uses."""
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0)
    # Redis has databases 0 to 15; 0 is left to the developer.
    return urlunsplit(parts._replace(path=f"/{database + 1 if database < 15 else 14}"))


def forget_queues(url: str, *queues: str) -> None:
    """Remove what Celery made on the broker for these queues (RabbitMQ keeps a durable queue
    and its exchange forever; Redis, the queue's list and its bindings)."""
    if url.startswith(("redis://", "rediss://")):
        client = redis.Redis.from_url(url)
        try:
            for queue in queues:
                for key in client.scan_iter(match=f"*{queue}*"):
                    client.delete(key)
        finally:
            client.close()
        return
    with Connection(url, connect_timeout=3) as conn:
        channel = conn.default_channel
        for queue in queues:
            channel.queue_delete(queue)
            channel.exchange_delete(queue)


class Worker:
    """`celery -A <app> worker` in its own process group, with ``env`` over the test's
    environment; ``children()`` are the processes of its pool, which run the tasks."""

    def __init__(self, env: dict[str, str], concurrency: int = 1, app: str | None = None):
        self.name = f"mw-{uuid.uuid4().hex[:8]}@test"
        # A file, not a pipe: a pipe nobody reads would block a chatty worker.
        self.log = tempfile.NamedTemporaryFile(suffix=".log")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            [
                CELERY,
                "-A",
                app or "api.rollouts.celery_worker",
                "worker",
                "--concurrency",
                str(concurrency),
                "--hostname",
                self.name,
                # Nothing to learn from other workers: a second less at each start.
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "INFO",
            ],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 20) -> Worker:
        """Return once the worker consumes its queue."""
        self.wait_for(f"{self.name} ready.", timeout)
        return self

    def wait_for(self, text: str, timeout: float, count: int = 1) -> None:
        """Return once ``text`` is in the worker's log ``count`` times; raise with the log
        when it is not within ``timeout`` seconds (or the worker exited)."""
        deadline = time.monotonic() + timeout
        while self.output().count(text) < count:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited ({self.proc.returncode}): {self.output()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"worker: {text!r} not {count} times within {timeout} s: {self.output()}"
                )
            time.sleep(0.05)

    def wait_for_deaths(self, count: int) -> None:
        """Return once ``count`` processes of the pool were killed, each noticed within a
        maintenance of the pool and a run after the one before."""
        for seen in range(1, count + 1):
            self.wait_for(KILLED, POOL_MAINTENANCE + RUN, count=seen)

    def output(self) -> str:
        fd = self.log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def children(self) -> list[int]:
        """The pool's processes (Linux: /proc/<pid>/task/<pid>/children)."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def kill(self) -> None:
        """SIGKILL to every process of the worker."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()
