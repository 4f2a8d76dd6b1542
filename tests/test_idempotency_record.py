"""A keyed retry whose first answer was never kept is told what the operation's record says:
not marked as a replay, and, for a dry run that has only just ended, in progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from api.service.oplog.record import UtcDateTime
from tests.databases import operation_log
from tests.revision_graph import SECOND


def forget_answer(database_url: str, op_id: str, ended_ago: float = 0.0) -> None:
    """What a process that stopped between an operation's end and keeping its answer leaves."""
    url, schema = operation_log(database_url)
    ops = sa.table(
        "operations",
        sa.column("id"),
        sa.column("response_status"),
        sa.column("response_body"),
        sa.column("started_at", UtcDateTime()),
        sa.column("finished_at", UtcDateTime()),
        schema=schema,
    )
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            mine = ops.update().where(ops.c.id == op_id)
            conn.execute(mine.values(response_status=None, response_body=None))
            if ended_ago:
                ended = datetime.now(UTC) - timedelta(seconds=ended_ago)
                conn.execute(
                    mine.values(started_at=ended - timedelta(seconds=1), finished_at=ended)
                )
    finally:
        engine.dispose()


def test_a_run_whose_answer_was_lost_is_told_from_its_record_not_as_a_replay(client, database_url):
    key = {"Idempotency-Key": "deploy-lost"}
    first = client.post("/upgrade", json={"target": SECOND}, headers=key)
    assert first.status_code == 200
    op_id = first.get_json()["operation_id"]
    forget_answer(database_url, op_id)

    retry = client.post("/upgrade", json={"target": SECOND}, headers=key)
    assert retry.status_code == 200, retry.text
    assert "Idempotent-Replayed" not in retry.headers  # it may differ from the answer lost
    told = retry.get_json()
    assert told["operation_id"] == op_id and told["to"] == [SECOND]
    record = client.get(f"/operations/{op_id}").get_json()
    assert told["duration_ms"] > 0  # the record's, not a zero
    assert [s["revision"] for s in told["applied"]] == [s["revision"] for s in record["steps"]]


def test_a_dry_run_that_has_just_ended_is_in_progress_for_a_retry_then_its_answer_is_lost(
    client, database_url
):
    key = {"Idempotency-Key": "dry-lost"}
    first = client.post("/upgrade", json={"sql": True}, headers=key)
    assert first.status_code == 200
    op_id = first.get_json()["operation_id"]

    forget_answer(database_url, op_id)  # the retry came between the end and the answer kept
    soon = client.post("/upgrade", json={"sql": True}, headers=key)
    assert soon.status_code == 409
    assert soon.get_json()["type"] == "urn:migrateway:problem:operation-in-progress"

    forget_answer(database_url, op_id, ended_ago=10)  # its process stopped: the SQL is gone
    late = client.post("/upgrade", json={"sql": True}, headers=key)
    assert late.status_code == 409
    assert late.get_json()["type"] == "urn:migrateway:problem:operation-interrupted"
