"""GET /metrics: read from the shared operation log and the database, so alike in every worker."""

from __future__ import annotations

import json
import time
from collections import Counter

import requests
from prometheus_client.parser import text_string_to_metric_families

from api import create_app, db
from tests.revision_graph import ALL, SECOND, TIP
from tests.servers import Gunicorn, free_port
from tests.tokens import NOTHING, READER, authorized, bearer


def samples(text: str) -> dict:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(client) -> dict:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain; version=0.0.4")
    return samples(answer.get_data(as_text=True))


def test_operations_and_revision_are_counted(client, database_url):
    before = scrape(client)
    assert before[("migrateway_database_up", ())] == 1
    assert before[("migrateway_pending_revisions", ())] == len(ALL)
    assert before[("migrateway_up_to_date", ())] == 0
    assert before[("migrateway_current_revision_info", (("revision", "base"),))] == 1
    assert not any(name == "migrateway_operations_total" for name, _ in before)

    assert client.post("/upgrade", json={"target": SECOND}).status_code == 200
    assert client.post("/upgrade", json={"target": "nosuchrev"}).status_code == 404
    assert client.post("/upgrade", json={"sql": True}).status_code == 200  # a dry run: not counted
    assert client.post("/upgrade").status_code == 200
    assert client.post("/downgrade", json={"target": SECOND}).status_code == 200

    after = scrape(client)
    ops = {lbl: n for (name, lbl), n in after.items() if name == "migrateway_operations_total"}
    assert ops == {
        (("kind", "upgrade"), ("status", "succeeded")): 2,
        (("kind", "downgrade"), ("status", "succeeded")): 1,
    }
    assert after[("migrateway_operations_running", ())] == 0
    seconds = after[("migrateway_operation_duration_seconds_total", (("kind", "upgrade"),))]
    assert seconds > 0
    assert after[("migrateway_lock_wait_seconds_count", ())] == 3
    assert after[("migrateway_lock_wait_seconds_sum", ())] >= 0
    assert after[("migrateway_current_revision_info", (("revision", SECOND),))] == 1
    assert after[("migrateway_pending_revisions", ())] == len(ALL) - 2
    assert after[("migrateway_up_to_date", ())] == 0


def test_metrics_need_the_read_scope(app):
    anonymous = app.test_client()
    assert anonymous.get("/metrics").status_code == 401
    assert anonymous.get("/metrics", headers=bearer(NOTHING)).status_code == 403
    assert anonymous.get("/metrics", headers=bearer(READER)).status_code == 200


def test_an_unreachable_database_still_answers(migrations):
    app = create_app(
        {
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/gone",
            "MIGRATIONS_DIR": str(migrations.path),
        }
    )
    figures = scrape(authorized(app.test_client()))
    with app.app_context():
        db.engine.dispose()
    assert figures == {("migrateway_database_up", ()): 0}


def test_every_worker_reports_the_same_figures(migrations, database_url):
    server = Gunicorn(
        {"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)},
        workers=2,
        threads=1,
    )
    try:
        assert server.post("/upgrade").status_code == 200
        # Each scrape comes on a new connection, which whichever worker is first to accept it
        # serves: scrape until each worker has answered some (the log names who answered).
        seen, served = [], Counter()
        deadline = time.monotonic() + 60
        while len(seen) < 10 or len(served) < 2 or min(served.values()) < 3:
            assert time.monotonic() < deadline, f"scrapes served by worker: {served}"
            seen.append(scrape_live(server))
            lines = log_lines(server.output().rpartition("\n")[0])  # whole lines only
            served = Counter(line["pid"] for line in lines if line.get("path") == "/metrics")
    finally:
        log = server.stop()
    workers = {line["pid"] for line in log_lines(log) if line.get("path") == "/metrics"}
    assert len(workers) == 2
    ops = (("kind", "upgrade"), ("status", "succeeded"))
    assert seen[0][("migrateway_operations_total", ops)] == 1
    assert seen[0][("migrateway_current_revision_info", (("revision", TIP),))] == 1
    # Every figure, durations and lock waits too, comes from the shared log and database.
    assert all(figures == seen[0] for figures in seen)


def log_lines(output: str) -> list[dict]:
    """The JSON lines among what gunicorn printed (its own lines are plain text)."""
    return [json.loads(text) for text in output.splitlines() if text.startswith("{")]


def scrape_live(server: Gunicorn) -> dict:
    answer = requests.get(server.url + "/metrics", headers=bearer(), timeout=30)
    assert answer.status_code == 200
    return samples(answer.text)
