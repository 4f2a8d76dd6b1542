"""Real processes for fault tests: gunicorn in its own process group, a TCP proxy that can
refuse, swallow, or forward connections to a database, and a network partition."""

from __future__ import annotations

import contextlib
import gc
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
    """`gunicorn -c python:api.gunicorn_conf wsgi:app` on a free port, as in production (its
    worker class and limits; the bind, workers, threads and timeout given here); ``kill()`` is
    a crash (SIGKILL to every process of the server). Its ``get``/``post`` send the test token
    with every scope; the tokens it knows come from the environment (see tests/conftest.py)."""

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
                "--config",
                "python:api.gunicorn_conf",
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
        # pread: the server writes through the same open file, so moving its offset (seek)
        # while it runs would make its next lines overwrite earlier ones.
        fd = self.log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> str:
        """Stop gracefully (SIGTERM), or kill after 15 s; return what the server printed."""
        # Close the session's keep-alive connections first: a worker shutting down waits for
        # the connections it still holds, so an open one would hold up every stop (by up to
        # 2 s). session.close() alone only forgets urllib3's pools: one a response the test
        # still holds refers to stays open, its connections with it; so each is closed here.
        # A response in a reference cycle keeps its pool, and so its connection, open until
        # the garbage collector frees it: the test's own responses (requests.get's too) are.
        gc.collect()
        for adapter in self.session.adapters.values():
            pools = adapter.poolmanager.pools
            for key in pools.keys():  # noqa: SIM118 - urllib3 forbids iterating it
                pools[key].close()
        self.session.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
        out = self.output()
        self.log.close()
        return out


class Proxy:
    """Forwards <bind>:<port> to a database; ``mode`` 'forward', 'refuse' or 'blackhole'
    (accepts new connections and never answers them)."""

    def __init__(
        self,
        target_port: int,
        target_host: str = "127.0.0.1",
        bind: str = "127.0.0.1",
        port: int | None = None,
    ):
        self.target = (target_host, target_port)
        self.bind = bind
        self.port = port or free_port()
        self.mode = "forward"
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._listen()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.bind, self.port))
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


class Partition:
    """A database reached through a network namespace whose link can be cut: what a network
    partition, or a host that vanished, looks like from here (packets are lost; nothing is
    refused or reset, unlike Proxy's modes).

    service -> host:port (a relay in the namespace) -> a Proxy on this side -> the database.
    Needs root and iproute2; every name is this process's own, and close() removes them all.
    """

    def __init__(self, target_port: int):
        n = os.getpid() % 200 + 20
        self.namespace, self._outside, self._inside = f"mwpart{n}", f"mwp{n}a", f"mwp{n}b"
        self.host, self.port = f"10.231.{n}.2", 15432
        near = f"10.231.{n}.1"
        self._relay: subprocess.Popen | None = None
        self._proxy: Proxy | None = None
        self.close()  # what a killed run with the same process id may have left
        try:
            _ip("netns", "add", self.namespace)
            _ip("link", "add", self._outside, "type", "veth", "peer", "name", self._inside)
            _ip("link", "set", self._inside, "netns", self.namespace)
            _ip("addr", "add", f"{near}/24", "dev", self._outside)
            _ip("link", "set", self._outside, "up")
            self._inner("addr", "add", f"{self.host}/24", "dev", self._inside)
            self._inner("link", "set", self._inside, "up")
            self._proxy = Proxy(target_port, bind=near)
            self._relay = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace, sys.executable, "-m", "tests.relay"]
                + [self.host, str(self.port), near, str(self._proxy.port)],
                cwd=PROJECT_ROOT,
            )
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection((self.host, self.port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        except BaseException:
            self.close()
            raise

    def cut(self) -> None:
        """Lose every packet between here and the database, both ways, from now on."""
        self._inner("link", "set", self._inside, "down")

    def heal(self) -> None:
        self._inner("link", "set", self._inside, "up")

    def close(self) -> None:
        if self._relay is not None:
            self._relay.kill()
            self._relay.wait(timeout=10)
        if self._proxy is not None:
            self._proxy.cut("refuse")
        subprocess.run(["ip", "link", "del", self._outside], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True)

    def _inner(self, *args: str) -> None:
        _ip("netns", "exec", self.namespace, "ip", *args)

    def __enter__(self) -> Partition:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)
