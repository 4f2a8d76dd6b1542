"""How many GET /health probes answer while N connections drip their headers (slowloris).

    .venv/bin/python -m bench.slowloris                  # gunicorn as the README runs it
    .venv/bin/python -m bench.slowloris --url http://127.0.0.1:8080   # e.g. nginx in front

Each dripping connection sends a request line and then one header line a second, never the
blank line that ends the headers. Not a timed test: it takes about 15 seconds per N.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from bench.processes import PROJECT_ROOT, Gunicorn, child_env


def drip(host: str, port: int, until: float, opened: list) -> None:
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            opened.append(sock)
            while time.monotonic() < until:
                time.sleep(1)
                sock.sendall(b"X-Drip: 1\r\n")
    except OSError:
        pass  # refused, reset or timed out: that connection drips no more


def probe(url: str, count: int, timeout: float) -> int:
    """How many of ``count`` GET /health answered 200 within ``timeout`` seconds each."""
    answered = 0
    for _ in range(count):
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(url + "/health", timeout=timeout) as r,
        ):
            answered += r.status == 200
    return answered


def measure(url: str, connections: int, probes: int = 5, timeout: float = 2.0) -> int:
    parts = urlsplit(url)
    until = time.monotonic() + 5 + probes * timeout
    opened: list = []
    threads = [
        threading.Thread(target=drip, args=(parts.hostname, parts.port, until, opened))
        for _ in range(connections)
    ]
    for thread in threads:
        thread.start()
    time.sleep(2)  # every connection open and dripping before the first probe
    answered = probe(url, probes, timeout)
    for thread in threads:
        thread.join()
    return answered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="probe this server instead of starting gunicorn")
    parser.add_argument("--connections", type=int, nargs="+", default=[0, 7, 8, 200])
    parser.add_argument("--probes", type=int, default=5)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        url = args.url
        if url is None:
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            env = child_env(
                DATABASE_URL=f"sqlite:///{scratch / 'db.sqlite'}",
                MIGRATIONS_DIR=str(PROJECT_ROOT / "migrations"),
            )
            server = stack.enter_context(Gunicorn("wsgi:app", env, workers=2))
            server.wait_ready("/health")
            url = f"http://127.0.0.1:{server.port}"
        for n in args.connections:
            answered = measure(url, n, args.probes)
            print(f"{n} dripping connections: {answered}/{args.probes} probes of /health answered")


if __name__ == "__main__":
    main()
