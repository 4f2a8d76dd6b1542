"""Starting gunicorn and command-line runs for the benchmarks, and stopping every one of them."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench import client

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the virtualenv's gunicorn and flask sit beside its python

# Every process group this run started and has not stopped yet: stop_all() ends them on any exit.
_LIVE: set[int] = set()


def child_env(bytecode: bool = False, **extra: str) -> dict[str, str]:
    """The environment of every server and command: the same for Migrateway and its references.

    By default no bytecode is written: generated directories have no __pycache__, so every
    load compiles every revision file, on both sides alike. With ``bytecode`` Python writes
    and reads __pycache__ as it would on a deploy that allows it.
    """
    env = dict(os.environ, FLASK_DEBUG="0", MIGRATEWAY_TOKENS=client.tokens_config())
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """One gunicorn master on a free 127.0.0.1 port; a context manager that always stops it.

    Every app runs under the project's own settings (api/gunicorn_conf.py, as the README
    starts the service), so Migrateway and the bare reference share worker class and threads.
    """

    def __init__(self, app: str, env: dict[str, str], workers: int = 1, log: Path | None = None):
        self.app, self.env, self.workers, self.log = app, env, workers, log
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "python:api.gunicorn_conf", self.app],
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=out,
                env=dict(
                    self.env, BIND=f"127.0.0.1:{self.port}", WEB_CONCURRENCY=str(self.workers)
                ),
                start_new_session=True,  # its own process group, so stopping it reaches its workers
            )
        finally:
            if self.log:
                out.close()
        _LIVE.add(self.proc.pid)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"gunicorn {self.app} exited with {self.proc.returncode}; see {self.log}"
                )
            try:
                if client.get(self.port, path).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"gunicorn {self.app} did not answer {path} within {timeout} s")

    def worker_pids(self) -> list[int]:
        pid = self.proc.pid
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(p) for p in text.split()]

    def worker_cpu(self) -> list[int]:
        """The CPU time (user and system, in clock ticks) each worker has used so far."""
        ticks = []
        for pid in self.worker_pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks.append(int(fields[11]) + int(fields[12]))
        return ticks

    def stop(self) -> None:
        if self.proc is not None:
            _stop_group(self.proc)


def _stop_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # gunicorn's graceful shutdown stops its workers
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # anything of this group still alive
    proc.wait()
    _LIVE.discard(proc.pid)


def started(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A background process of the project (a Celery worker) in its own process group, its
    output appended to ``log``; stop it with :func:`stop` (stop_all does on any exit)."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            args, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=out, start_new_session=True
        )
    _LIVE.add(proc.pid)
    return proc


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM (a graceful stop), then SIGKILL to whatever of its group is left."""
    _stop_group(proc)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def timed_command(args: list[str], env: dict[str, str], timeout: float = 600) -> tuple[float, str]:
    """Run a command from the project root; its wall time (whole process) and its stdout.

    :raises RuntimeError: it failed.
    """
    start = time.perf_counter()
    proc = subprocess.run(
        args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def flask_db(*args: str) -> list[str]:
    return [str(BIN / "flask"), "--app", "wsgi", "db", *args]


def stop_all() -> None:
    """End the process groups still running (after an error or a signal)."""
    for pgid in list(_LIVE):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        _LIVE.discard(pgid)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through every `with`, which stops the servers


def install_cleanup() -> None:
    """Stop every started process on normal exit, on an error, and on SIGTERM or SIGHUP."""
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
