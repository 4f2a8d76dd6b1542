"""What the soak test asserts once settled: every answer against the log, the database read
directly."""

from __future__ import annotations

import json
from collections import defaultdict

from tests.chaos import Answer, Chaos, around, brief, documented_problem_types, epoch
from tests.soak_database import SLOW

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


RECOVERY_SECONDS = 1.0  # after a restart, a 503 is still fair this long


def same_answer(first: Answer, again: Answer) -> bool:
    """A replay answers as the first answer did; a 202 names the same operation (its body is
    that operation as it stands now)."""
    if (first.status, first.type) != (again.status, again.type):
        return False
    if first.status == 202:
        return first.body["id"] == again.body["id"]
    return first.body == again.body


def restarting(chaos: Chaos, a: Answer) -> bool:
    """Whether the request overlapped a database restart (a 503 is then fair)."""
    return any(a.started <= up + RECOVERY_SECONDS and a.ended >= down for down, up in chaos.outages)


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
                    f"for key {key}: {a.call} {a.request.body}; first {original.body}, "
                    f"replayed {a.body}"
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
