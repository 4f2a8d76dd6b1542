"""The soak test's clients (tests/test_soak.py): random requests to the live servers, every
answer recorded; and what the test reports from them."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import requests

from api.config import PROJECT_ROOT
from tests.soak_database import Database

REQUEST_TIMEOUT = 30  # a request without an answer by then has hung


@dataclass(frozen=True)
class Request:
    path: str
    body: dict
    if_match: str | None = None
    expected: tuple[str, ...] | None = None  # what If-Match or expected_current names
    key: str | None = None


@dataclass
class Answer:
    call: str  # "POST /upgrade", "GET /operations/<id>"
    started: float  # time.time(), as the operation log's times
    ended: float = 0.0
    status: int | None = None  # None: no answer at all (see error)
    error: str | None = None  # "connection" or "timeout"
    media_type: str | None = None
    type: str | None = None  # the problem type, without urn:migrateway:problem:
    body: dict | None = None
    etag: str | None = None
    replayed: bool = False
    server_killed: bool = False
    request: Request | None = None


@dataclass
class Chaos:
    """What the clients share: the live servers, the keyed requests to retry, the answers."""

    seed: int
    servers: list  # two tests.servers.Gunicorn; a killed one is replaced in place
    revisions: list[str]
    db: Database
    killed: set[int] = field(default_factory=set)  # ports of killed servers
    keyed: list[Request] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    outages: list[tuple[float, float]] = field(default_factory=list)  # restarts (time.time())
    timeline: list[str] = field(default_factory=list)  # "HH:MM:SS.mmm <event>" (UTC)
    unrecoverable: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    recovering: threading.Lock = field(default_factory=threading.Lock)

    def live(self) -> list:
        """The servers not killed (a killed one is replaced once its successor is up)."""
        return [s for s in self.servers if s.port not in self.killed] or self.servers

    def call(self, server, method: str, path: str, request: Request | None = None, **kw) -> Answer:
        call = f"{method} {re.sub(r'/[0-9a-f-]{36}', '/<id>', path.split('?')[0])}"
        answer = Answer(call, time.time(), request=request)
        # A new connection each time, as a pipeline's curl makes: on a kept-alive one, the
        # server closing it idle (gunicorn's keepalive, 2 s) as the client reuses it is a reset
        # that no server fault caused, and would read as a live server that did not answer.
        headers = {**kw.pop("headers", {}), "Connection": "close"}
        try:
            r = server.session.request(
                method, server.url + path, timeout=REQUEST_TIMEOUT, headers=headers, **kw
            )
        except requests.Timeout:
            answer.error = "timeout"
        # A server killed between an answer's headers and its body breaks the body (chunked
        # encoding error): no answer, as a connection refused or reset is.
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            answer.error = "connection"
        else:
            answer.status, answer.etag = r.status_code, r.headers.get("ETag")
            answer.media_type = r.headers.get("Content-Type", "").split(";")[0]
            answer.replayed = r.headers.get("Idempotent-Replayed") == "true"
            try:
                answer.body = r.json()
            except ValueError:
                answer.body = None
            if r.status_code >= 400 and isinstance(answer.body, dict):
                answer.type = str(answer.body.get("type", "")).rpartition(":")[2]
        answer.ended = time.time()
        answer.server_killed = server.port in self.killed
        with self.lock:
            self.answers.append(answer)
        return answer

    def send(self, server, request: Request, respond_async: bool = False) -> Answer:
        headers = {"Idempotency-Key": request.key} if request.key else {}
        if request.if_match:
            headers["If-Match"] = request.if_match
        if respond_async:
            headers["Prefer"] = "respond-async"
        answer = self.call(
            server, "POST", request.path, request, json=request.body, headers=headers
        )
        if answer.status == 202 and answer.body:
            self.poll(answer.body["id"])
        elif answer.type == "recovery-required":
            self.recover(answer.body["operation_id"])
        return answer

    def poll(self, op_id: str) -> None:
        deadline = time.monotonic() + REQUEST_TIMEOUT
        while time.monotonic() < deadline and not self.stop.is_set():
            answer = self.call(random.choice(self.live()), "GET", f"/operations/{op_id}")
            if answer.status == 200 and answer.body["status"] != "running":
                return
            time.sleep(0.2)

    def recover(self, op_id: str) -> None:
        """What an operator does on 409 recovery-required: stamp the revision the schema
        matches, read directly (in a linear chain: the tables t_0 .. t_n, or none for base),
        naming the operation they acknowledge."""
        if not self.recovering.acquire(blocking=False):
            return  # another client is on it
        try:
            version, tables = self.db.state()
            prefixes = [{f"t_{r}" for r in self.revisions[:n]} for n in range(len(self.revisions))]
            prefixes.append({f"t_{r}" for r in self.revisions})
            if tables not in prefixes:
                self.unrecoverable.append(f"tables {sorted(tables)} match no revision")
                return
            n = prefixes.index(tables)
            body = {"target": self.revisions[n - 1] if n else "base", "lock_timeout": 5}
            body["expected_current"] = sorted(version)  # 412 if it moved since it was read
            body["resolves"] = op_id
            self.send(random.choice(self.live()), Request("/stamp", body))
        finally:
            self.recovering.release()

    def client(self, name: str) -> None:
        """Random requests until told to stop: new ones, retries of keyed ones (maybe still
        running), a key reused for another request, the same keyed request to both servers."""
        rng = random.Random(f"{self.seed}-{name}")
        for n in range(10**9):
            if self.stop.is_set():
                return
            server, roll = rng.choice(self.live()), rng.random()
            with self.lock:
                keyed = list(self.keyed)
            if roll < 0.2 and keyed:
                request = rng.choice(keyed)
            elif roll < 0.25 and keyed:
                other = rng.choice(keyed)
                request = replace(other, body={**other.body, "target": rng.choice(self.revisions)})
            else:
                request = self.new_request(rng, server, f"{self.seed}-{name}-{n}")
            respond_async = rng.random() < 0.2
            if request.key and rng.random() < 0.15:
                first, *_, last = self.live() * 2
                twin = threading.Thread(target=self.send, args=(first, request))
                twin.start()
                self.send(last, request, respond_async)
                twin.join()
            else:
                self.send(server, request, respond_async)
            time.sleep(rng.uniform(0, 0.2))

    def new_request(self, rng: random.Random, server, key: str) -> Request:
        kind = rng.choices(["upgrade", "downgrade", "dry-run"], [5, 4, 1])[0]
        relative = ["-1", "-2", "base"] if kind == "downgrade" else ["head", "+1", "+2"]
        body = {"target": rng.choice([*relative, rng.choice(self.revisions)])}
        body["lock_timeout"] = rng.choice([0, 1, 5])
        if kind == "dry-run":
            body["sql"] = True
        request = Request("/downgrade" if kind == "downgrade" else "/upgrade", body)
        if rng.random() < 0.3:
            current = self.call(server, "GET", "/current")
            if current.status == 200:
                expected = tuple(current.body["current"])
                if rng.random() < 0.5:
                    request = replace(request, if_match=current.etag, expected=expected)
                else:
                    body["expected_current"] = list(expected)
                    request = replace(request, expected=expected)
        if rng.random() < 0.4:
            request = replace(request, key=key)
            with self.lock:
                self.keyed.append(request)
        return request


# The line of a traceback that names the exception: "module.Class: message".
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Warning)\b")


def counts(chaos: Chaos, ops: list[dict], title: str) -> str:
    """Answers by status and problem type, operations by kind and status, audit rows."""
    posts = Counter(
        f"{a.status or a.error} {a.type or ''}".strip() for a in chaos.answers if a.request
    )
    gets = Counter(f"{a.status or a.error}" for a in chaos.answers if not a.request)
    features = Counter()
    for a in chaos.answers:
        if a.request:
            features["keyed"] += bool(a.request.key)
            features["replayed"] += a.replayed
            features["if-match/expected_current"] += a.request.expected is not None
            features["202 async"] += a.status == 202
            features["operator stamp"] += a.call == "POST /stamp"
    kinds = Counter(
        f"{op['kind']}{' dry-run' if op['sql'] else ''} {op['status']}"
        + (" partial_possible" if op["partial_possible"] else "")
        for op in ops
    )
    audit = Counter(row[2] for row in chaos.db.audit())
    return "\n".join(
        [
            f"{title}: {tally(Counter(e.partition(' ')[2] for e in chaos.timeline))}",
            f"chaos at (UTC): {', '.join(chaos.timeline)}",
            f"POST answers ({sum(posts.values())}): {tally(posts)}",
            f"POST requests: {tally(features)}",
            f"GET answers ({sum(gets.values())}): {tally(gets)}",
            f"operations ({len(ops)}): {tally(kinds)}",
            f"audit rows: {tally(audit)}",
        ]
    )


def server_errors(outputs: str) -> str:
    """The errors the servers logged, counted by the line of api/ that raised them and the
    exception."""
    errors = Counter()
    for text in outputs.splitlines():
        if text.startswith("{") and '"error"' in text:
            lines = json.loads(text)["error"].splitlines()
            frames = [x.strip() for x in lines if 'File "' in x and "/api/" in x]
            where = frames[-1] if frames else "?"
            where = re.sub(r'.*/api/(\S+)", line (\d+), in (\w+)', r"\1:\2 \3", where)
            exception = [x for x in lines if _EXCEPTION.match(x)] or lines[-1:]
            errors[f"{where}: {exception[-1][:110]}"] += 1
    return tally(errors) or "none"


def documented_problem_types() -> set[str]:
    """The problem types of the README's error table (its 4xx and 5xx rows)."""
    types: set[str] = set()
    for line in (PROJECT_ROOT / "README.md").read_text().splitlines():
        if re.match(r"\| [45]\d\d\b", line):
            types.update(re.findall(r"`([a-z-]+)`", line.split("|")[2]))
    return types


def around(ops: list[dict], start: float, end: float, margin: float = 3.0) -> str:
    """The migrations (not dry runs) logged from ``margin`` s before ``start`` to as long
    after ``end``, oldest first: what may have run a revision at that time."""
    found = [
        op
        for op in sorted(ops, key=lambda op: op["started_at"])
        if not op["sql"]
        and epoch(op["started_at"]) <= end + margin
        and (op["finished_at"] is None or epoch(op["finished_at"]) >= start - margin)
    ]
    return "; ".join(brief(op) for op in found)


def epoch(value) -> float:
    """A time from the operation log (UTC; naive on MariaDB, text on SQLite) in seconds."""
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def brief(op: dict) -> str:
    """An operation in a line: kind, target, status, id, and when it started and ended."""
    partial = " partial_possible" if op["partial_possible"] else ""
    return (
        f"{op['kind']} to {op['target']} {op['status']}{partial} {op['id'][:8]} "
        f"{str(op['started_at'])[11:23]}-{str(op['finished_at'])[11:23]}"
    )


def tally(counter: Counter) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counter.items(), key=str))


def describe(problems: dict[str, list[str]]) -> str:
    return "\n".join(
        f"{kind} ({len(details)}x):\n" + "\n".join(f"    {d}" for d in details[:5])
        for kind, details in problems.items()
    )
