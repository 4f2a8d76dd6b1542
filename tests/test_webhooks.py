"""Webhooks: to a real receiver that checks the signature, retried, bounded, crash safe, and
never showing a secret."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from api import create_app, db
from api.config import PROJECT_ROOT, ConfigurationError, load_config
from api.service.oplog import Deliveries, Delivery, OperationLog
from tests.revision_graph import TIP
from tests.tokens import authorized
from tests.webhook_receiver import Receiver

SECRET = "whsec_test-0123456789abcdef"
OTHER_SECRET = "whsec_failures-only-fedcba9876543210"


def readme_verify():
    """The README's verification recipe, run as written."""
    section = (PROJECT_ROOT / "README.md").read_text().split("### Webhooks", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    exec(code, scope)
    return scope["verify"]


def hooks_json(*hooks: tuple[str, str, list[str]]) -> str:
    return json.dumps([{"url": u, "secret": s, "events": e} for u, s, e in hooks])


def wait_for(fetch, ready, timeout: float = 10.0):
    """``fetch()`` until ``ready`` of it; the last one fetched."""
    deadline = time.monotonic() + timeout
    while not ready(value := fetch()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


@pytest.fixture
def receiver():
    made = []

    def make(answers=None) -> Receiver:
        made.append(Receiver(answers))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def hooked(monkeypatch, migrations, database_url):
    """A client of an app started with MIGRATEWAY_WEBHOOKS (and more settings) as given, and
    a function that reads its deliveries."""
    apps = []

    def start(hooks: str, **env: str):
        monkeypatch.setenv("MIGRATEWAY_WEBHOOKS", hooks)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
        apps.append(app)
        client = authorized(app.test_client())
        return client, lambda: client.get("/webhooks/deliveries").get_json()["items"]

    yield start
    for app in apps:
        app.extensions["migrateway_webhooks"].stop()
        with app.app_context():
            db.engine.dispose()


def test_a_receiver_gets_each_ended_operation_signed_and_as_the_log_shows_it(
    hooked, receiver, backend
):
    everything, failures = receiver(), receiver()
    client, deliveries = hooked(
        hooks_json(
            (everything.url, SECRET, ["*"]), (failures.url, OTHER_SECRET, ["operation.failed"])
        )
    )
    assert deliveries() == []
    r = client.post("/upgrade")
    assert r.status_code == 200, r.get_data(as_text=True)
    op_id = r.get_json()["operation_id"]
    ((headers, body),) = everything.wait_for(1)
    verify = readme_verify()
    signed = headers["Migrateway-Signature"]
    assert verify(SECRET, signed, body)
    assert not verify(OTHER_SECRET, signed, body)
    assert not verify(SECRET, signed, body.replace(b"tester", b"mallory"))
    sent = json.loads(body)
    assert sent["event"] == headers["Migrateway-Event"] == "operation.succeeded"
    assert sent["operation"] == client.get(f"/operations/{op_id}").get_json()
    assert re.fullmatch(rf"upgrade by tester: base -> {TIP} succeeded in \d+\.\d\d s", sent["text"])

    (delivery,) = wait_for(deliveries, lambda items: items[0]["status"] == "delivered")
    assert delivery["id"] == sent["delivery_id"] == headers["Migrateway-Delivery"]
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1
    assert delivery["status_code"] == 200 and delivery["error"] is None
    assert (delivery["operation_id"], delivery["url"]) == (op_id, everything.url)
    assert delivery["delivered_at"] and delivery["event"] == "operation.succeeded"
    assert failures.received == []  # it asked for failures only


def test_a_failed_operation_reaches_who_asked_for_failures(
    hooked, receiver, migrations, sqlite_only
):
    everything, failures = receiver(), receiver()
    client, deliveries = hooked(
        hooks_json(
            (everything.url, SECRET, ["*"]), (failures.url, OTHER_SECRET, ["operation.failed"])
        )
    )
    migrations.add("ffff00000099", TIP, message="breaks", upgrade="raise RuntimeError('boom')")
    assert client.post("/upgrade").status_code == 422
    ((headers, body),) = failures.wait_for(1)
    assert readme_verify()(OTHER_SECRET, headers["Migrateway-Signature"], body)
    sent = json.loads(body)
    assert sent["event"] == "operation.failed"
    assert sent["operation"]["failed_revision"] == "ffff00000099"
    assert re.fullmatch(
        rf"upgrade by tester: base -> {TIP} failed in \d+\.\d\d s at ffff00000099: .*boom.*",
        sent["text"],
    )
    assert json.loads(everything.wait_for(1)[0][1])["event"] == "operation.failed"
    items = wait_for(deliveries, lambda items: all(i["status"] == "delivered" for i in items))
    assert sorted(i["url"] for i in items) == sorted([everything.url, failures.url])


def test_an_operation_the_reaper_calls_interrupted_is_sent_too(hooked, receiver, sqlite_only):
    hook = receiver()
    client, _ = hooked(hooks_json((hook.url, SECRET, ["operation.interrupted"])))
    svc = client.application.extensions["migrateway"]
    # What a process killed mid-migration leaves: a running record and no lock held.
    dead = svc.oplog.start(
        kind="upgrade",
        actor="deployer",
        target="head",
        sql=False,
        from_=(),
        client_address=None,
        idempotency_key=None,
        request_hash=None,
    )
    assert client.get(f"/operations/{dead.id}").get_json()["status"] == "interrupted"
    sent = json.loads(hook.wait_for(1)[0][1])
    assert sent["event"] == "operation.interrupted" and sent["operation"]["id"] == dead.id
    assert sent["text"].startswith("upgrade by deployer: base -> ? interrupted in ")


def test_two_processes_send_each_webhook_once(hooked, receiver, backend):
    hook = receiver()
    hooks = hooks_json((hook.url, SECRET, ["*"]))
    (client, deliveries), (other, _) = hooked(hooks), hooked(hooks)
    r = client.post("/upgrade")
    assert r.status_code == 200, r.get_data(as_text=True)
    # The other process looks at once too: both find the operation without a delivery.
    other.application.extensions["migrateway_webhooks"].wake()
    hook.wait_for(1)
    (delivery,) = wait_for(deliveries, lambda items: items[0]["status"] == "delivered")
    time.sleep(0.3)  # time enough for a second POST, were there one
    assert len(hook.received) == 1 and delivery["attempts"] == 1


def test_a_delivery_is_recorded_once_and_attempted_by_one_process_at_a_time(database_url, backend):
    """Two processes' views of one log (each its own engine), as the claim sees them."""
    engines = [sa.create_engine(database_url) for _ in range(2)]
    try:
        ours, theirs = (Deliveries(OperationLog(engine)) for engine in engines)
        first = Delivery(operation_id="op-1", event="operation.succeeded", url="http://r/1")
        assert ours.add(first)
        twin = Delivery(operation_id="op-1", event="operation.succeeded", url="http://r/1")
        assert not theirs.add(twin)  # recorded already: one row per operation and receiver
        assert [d.id for d in theirs.due(first.next_attempt_at)] == [first.id]
        assert ours.claim(first.id, seconds=0.3)
        assert not theirs.claim(first.id, seconds=0.3)  # ours is attempting it
        assert theirs.due(first.next_attempt_at + timedelta(seconds=0.1)) == []
        time.sleep(0.4)  # our claim lapsed: we died mid-attempt
        assert theirs.claim(first.id, seconds=10)
        theirs.attempted(first.id, status="delivered", status_code=204)
        assert not ours.claim(first.id, seconds=10)  # delivered: nothing to claim
        ((row,), total) = ours.page(10, 0)
        assert (total, row.status, row.attempts, row.claimed_until) == (1, "delivered", 1, None)
    finally:
        for engine in engines:
            engine.dispose()


def test_a_receiver_that_fails_then_recovers_gets_it_again(hooked, receiver, sqlite_only):
    flaky = receiver(answers=[500])
    client, deliveries = hooked(hooks_json((flaky.url, SECRET, ["*"])))
    assert client.post("/upgrade").status_code == 200
    flaky.wait_for(1)
    (first,) = wait_for(deliveries, lambda items: items[0]["attempts"] == 1)
    assert first["status"] == "pending" and first["status_code"] == 500
    assert first["error"].startswith("HTTP 500") and first["next_attempt_at"]
    (_, body1), (headers2, body2) = flaky.wait_for(2, timeout=5)
    assert body1 == body2  # the same message, signed again
    assert readme_verify()(SECRET, headers2["Migrateway-Signature"], body2)
    (done,) = wait_for(deliveries, lambda items: items[0]["status"] == "delivered")
    assert (done["status"], done["attempts"], done["status_code"]) == ("delivered", 2, 200)
    assert done["error"] is None


def test_a_receiver_that_never_answers_delays_no_answer_and_ends_failed(
    start_server, receiver, sqlite_only
):
    mute = receiver(answers=["hang"] * 10)
    server = start_server(
        {
            "MIGRATEWAY_WEBHOOKS": hooks_json((mute.url, SECRET, ["*"])),
            "WEBHOOK_TIMEOUT": "1.5",
            "WEBHOOK_RETRY_SECONDS": "3",
        }
    )
    began = time.monotonic()
    up = server.post("/upgrade")
    down = server.post("/downgrade", json={"target": "-1"})
    took = time.monotonic() - began
    assert up.status_code == 200 and down.status_code == 200, down.text
    mute.wait_for(1)
    # Had each answer waited for its webhook's attempt, the two would take 2 x 1.5 s at least;
    # the margin below that is for a loaded machine, not for a wait.
    assert took < 3.0, took

    # One attempt of each, then the second after 1 s of backoff, both timed out; the third
    # would start past WEBHOOK_RETRY_SECONDS.
    def fetch():
        return server.get("/webhooks/deliveries").json()["items"]

    items = wait_for(
        fetch, lambda items: [i["status"] for i in items] == ["failed"] * 2, timeout=20
    )
    assert (
        sorted((i["event"], i["status"], i["attempts"]) for i in items)
        == [("operation.succeeded", "failed", 2)] * 2
    ), items
    assert all(i["status_code"] is None and "timed out" in i["error"] for i in items), items

    answers = [server.get(p).text for p in ("/webhooks/deliveries", "/operations")]
    output = server.stop()
    assert "attempt 2 failed" in output  # the log says what happened...
    for text in (output, *answers):
        assert SECRET not in text  # ...and never the secret


def test_a_delivery_a_dead_process_left_is_made_by_the_next(
    start_server, hooked, receiver, sqlite_only
):
    down = receiver(answers=[503] * 100)
    hooks = hooks_json((down.url, SECRET, ["*"]))
    first = start_server({"MIGRATEWAY_WEBHOOKS": hooks})
    op_id = first.post("/upgrade").json()["operation_id"]
    wait_for(
        lambda: first.get("/webhooks/deliveries").json()["items"],
        lambda items: items and items[0]["attempts"] == 1,
    )
    first.kill()  # SIGKILL, with the retry due in 1 s: nothing is tidied up
    first.log.close()
    down.answers.clear()  # the receiver is back

    _, deliveries = hooked(hooks)  # the next process, on the same database
    (_, body), (headers, again) = down.wait_for(2)
    assert again == body and json.loads(body)["operation"]["id"] == op_id
    assert readme_verify()(SECRET, headers["Migrateway-Signature"], again)
    (done,) = wait_for(deliveries, lambda items: items[0]["status"] == "delivered")
    assert (done["attempts"], done["status_code"]) == (2, 200)


@pytest.mark.parametrize(
    "hooks, fault",
    [
        ("[{", "is not JSON"),
        (f'{{"url": "http://x", "secret": "{SECRET}"}}', "must be a JSON list"),
        (f'[{{"url": "ftp://x", "secret": "{SECRET}"}}]', "[0]: url must be an http"),
        (f'[{{"url": "http://u:{SECRET}@x", "secret": "s"}}]', "[0]: url must not carry"),
        (f'[{{"url": "http://x", "secret": "{SECRET}", "event": ["*"]}}]', "unknown keys"),
        (f'[{{"url": "http://x", "secret": "{SECRET}", "events": ["push"]}}]', "[0]: events"),
        ('[{"url": "http://x", "secret": ""}]', "[0]: secret must be"),
        (
            f'[{{"url": "http://x", "secret": "{SECRET}"}}, {{"url": "http://x", "secret": "s"}}]',
            "[1]: the url is given twice",
        ),
    ],
)
def test_a_bad_list_stops_the_service_with_one_line_and_no_secret(hooks, fault):
    with pytest.raises(ConfigurationError) as refused:
        load_config({"MIGRATEWAY_WEBHOOKS": hooks}, "/nonexistent")
    message = str(refused.value)
    assert message.startswith("MIGRATEWAY_WEBHOOKS") and fault in message, message
    assert "\n" not in message and SECRET not in message
