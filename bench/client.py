"""One timed HTTP request to 127.0.0.1, over a new connection as a deploy script's curl makes it."""

from __future__ import annotations

import http.client
import json
import secrets
import time
from dataclasses import dataclass

# One bearer token with every scope for this run, given to the service in MIGRATEWAY_TOKENS.
TOKEN = "mgw_bench_" + secrets.token_urlsafe(24)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def tokens_config() -> str:
    """The MIGRATEWAY_TOKENS value that admits TOKEN, in the format the service reads."""
    from api import tokens

    return json.dumps([tokens.entry("bench", TOKEN, tokens.SCOPES)])


@dataclass
class Response:
    status: int
    body: bytes
    seconds: float  # from connecting to the last byte of the body

    def json(self):
        return json.loads(self.body)


def request(port: int, method: str, path: str, payload=None, timeout: float = 900) -> Response:
    body = None if payload is None else json.dumps(payload).encode()
    headers = dict(AUTH, **({"Content-Type": "application/json"} if body is not None else {}))
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    return Response(resp.status, data, time.perf_counter() - start)


def get(port: int, path: str) -> Response:
    return request(port, "GET", path)


def post(port: int, path: str, payload) -> Response:
    return request(port, "POST", path, payload)


def timed_gets(port: int, path: str, times: int) -> list[float]:
    """Seconds of ``times`` successive GETs of ``path``, each of which must answer 200."""
    return [expect_ok(get(port, path), f"GET {path}").seconds for _ in range(times)]


def expect_ok(resp: Response, what: str) -> Response:
    if resp.status != 200:
        raise RuntimeError(f"{what} answered {resp.status}: {resp.body[:500]!r}")
    return resp
