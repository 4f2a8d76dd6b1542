"""Real processes for fault tests: gunicorn in its own process group, and a TCP proxy that
can refuse, swallow, or forward connections to a database."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import requests

from api.config import PROJECT_ROOT
from tests.tokens import bearer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """`gunicorn wsgi:app` on a free port, as in production; ``kill()`` is a crash (SIGKILL to
    every process of the server). Its ``get``/``post`` send the test token with every scope;
    the tokens it knows come from the environment (see tests/conftest.py)."""

    def __init__(
        self,
        env: dict[str, str | None],
        workers: int = 1,
        threads: int = 4,
        args: tuple[str, ...] = (),
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.session = requests.Session()
        self.session.headers.update(bearer())
        # A file, not a pipe: a pipe nobody reads would block a chatty server.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--timeout",
                "120",
                *args,
                "wsgi:app",
            ],
            cwd=PROJECT_ROOT,
            # A None value removes the variable (e.g. DATABASE_URL, to serve the embedded one).
            env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.output()}")
            try:
                requests.get(self.url + "/health", timeout=2)
                return
            except requests.RequestException:  # not listening yet, or the worker still booting
                time.sleep(0.1)
        self.kill()
        raise RuntimeError("gunicorn did not answer within 30 s")

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.url + path, timeout=kwargs.pop("timeout", 30), **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.session.post(self.url + path, timeout=kwargs.pop("timeout", 60), **kwargs)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> str:
        """Stop gracefully (SIGTERM), or kill after 15 s; return what the server printed."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
        self.session.close()
        out = self.output()
        self.log.close()
        return out


class Proxy:
    """Forwards 127.0.0.1:<port> to a database; ``mode`` 'forward', 'refuse' or 'blackhole'
    (accepts and never answers: what a dropped network route looks like)."""

    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self.mode = "forward"
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._listen()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(client)
            if self.mode == "blackhole":
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self, mode: str) -> None:
        """Drop every open connection; then refuse new ones, or accept and swallow them."""
        self.mode = mode
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._sockets.clear()
        if mode == "refuse" and self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None

    def restore(self) -> None:
        """Forward again."""
        self.cut("forward")
        if self._listener is None:
            self._listen()

    def close(self) -> None:
        self.cut("refuse")
