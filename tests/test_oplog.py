"""The operation record as stored: rows of earlier versions, JSON as TEXT, UTC microseconds."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from api.schemas.operations import OperationSchema
from api.service.oplog import SUCCEEDED, Operation, OperationLog
from api.service.results import StepResult

STARTED = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)

# The columns as the first versions declared them: the revisions and steps are JSON in TEXT
# columns (written with json.dumps), the times microsecond DATETIMEs on MariaDB.
_TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
EARLIER = sa.Table(
    "operations",
    sa.MetaData(),
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(16)),
    sa.Column("actor", sa.String(128)),
    sa.Column("target", sa.String(128)),
    sa.Column("sql", sa.Boolean),
    sa.Column("from_revisions", sa.Text),
    sa.Column("to_revisions", sa.Text),
    sa.Column("steps", sa.Text),
    sa.Column("status", sa.String(16)),
    sa.Column("partial_possible", sa.Boolean),
    sa.Column("started_at", _TIMESTAMP),
    sa.Column("finished_at", _TIMESTAMP),
)


@pytest.fixture
def oplog(database_url):
    """The operation log of a fresh database, made as on a first write."""
    target = sa.create_engine(database_url)
    log = OperationLog(target)
    log.ensure()
    yield log
    log.engine.dispose()
    target.dispose()


def _connect(log: OperationLog) -> sa.Connection:
    return log.engine.connect().execution_options(**log._options)


def test_a_row_an_earlier_version_wrote_reads_back(oplog):
    with _connect(oplog) as conn:
        conn.execute(
            EARLIER.insert().values(
                id="earlier",
                kind="upgrade",
                actor="ops",
                target="head",
                sql=False,
                from_revisions=json.dumps(["a1"]),
                to_revisions=json.dumps(["b2", "c3"]),
                steps=json.dumps([{"revision": "b2", "message": None, "duration_ms": 1.5}]),
                status=SUCCEEDED,
                partial_possible=False,
                started_at=STARTED,
                finished_at=STARTED,
            )
        )
        conn.commit()
    op = oplog.get("earlier")
    assert op.from_ == ("a1",) and op.to == ("b2", "c3")
    assert op.steps == [StepResult("b2", None, 1.5)]
    assert op.started_at == STARTED and op.started_at.tzinfo is not None
    assert op.resolved_by is None and not op.needs_recovery
    assert oplog.page(10, 0) == ([op], 1)


def test_an_earlier_version_reads_what_this_one_writes(oplog):
    op = oplog.start(
        kind="upgrade",
        actor="ops",
        target="head",
        sql=False,
        from_=("a1",),
        client_address=None,
        idempotency_key=None,
        request_hash=None,
    )
    oplog.finish(op.id, status=SUCCEEDED, to=("b2",), steps=[StepResult("b2", "m", 2.0)])
    with _connect(oplog) as conn:
        row = conn.execute(EARLIER.select().where(EARLIER.c.id == op.id)).one()
    assert json.loads(row.from_revisions) == ["a1"] and json.loads(row.to_revisions) == ["b2"]
    assert json.loads(row.steps) == [{"revision": "b2", "message": "m", "duration_ms": 2.0}]
    stored = row.started_at.replace(tzinfo=row.started_at.tzinfo or UTC)
    assert stored == op.started_at  # to the microsecond, on MariaDB too
    assert oplog.get(op.id).finished_at >= op.started_at


def test_the_schema_shows_fields_of_the_record():
    # The record may hold more (the saved answer, the request's hash) than the API shows.
    attributes = {field.attribute or name for name, field in OperationSchema().fields.items()}
    assert attributes <= {name for name in dir(Operation) if not name.startswith("_")}


def test_an_ending_the_log_did_not_take_at_once_is_written_before_the_lock_goes(
    app, client, sqlite_only
):
    """A busy log refused the first write of an operation's end. The write answers only once
    the ending is written: released with the record still 'running', the lock would let
    another process call the operation interrupted (seen as a flaky 409 under load)."""
    svc = app.extensions["migrateway"]
    refused = []

    def busy_once(conn, cursor, statement, parameters, context, executemany):
        ending = statement.startswith("UPDATE operations") and "succeeded" in str(parameters)
        if not refused and ending:
            refused.append(statement)
            raise sa.exc.OperationalError(statement, parameters, Exception("database is locked"))

    assert client.post("/upgrade", json={"target": "+1"}).status_code == 200  # the log exists
    sa.event.listen(svc.oplog.engine, "before_cursor_execute", busy_once)
    try:
        r = client.post("/upgrade", json={"target": "+1"})
        assert r.status_code == 200, r.get_json()
        assert refused, "the ending was never refused: the test proves nothing"
        with svc.oplog.engine.connect() as conn:
            status = conn.exec_driver_sql(
                "SELECT status FROM operations WHERE id = ?", (r.get_json()["operation_id"],)
            ).scalar()
        assert status == "succeeded"
    finally:
        sa.event.remove(svc.oplog.engine, "before_cursor_execute", busy_once)


def test_a_sqlite_log_is_made_in_one_commit(tmp_path):
    """A log file's first write makes its tables and indexes in one transaction, not one
    commit per CREATE (each syncs the file, its journal and its directory): a rollout's
    tenant paid eleven."""
    target = sa.create_engine(f"sqlite:///{tmp_path / 'tenant.sqlite'}")
    log = OperationLog(target)
    said: list[str] = []
    sa.event.listen(log.engine, "connect", lambda raw, _: raw.set_trace_callback(said.append))
    try:
        log.ensure()
    finally:
        log.engine.dispose()
        target.dispose()
    words = [s.split(None, 1)[0].upper() for s in said if s.strip()]
    creates = [i for i, w in enumerate(words) if w == "CREATE"]
    assert len(creates) >= 10, words
    commits = [i for i, w in enumerate(words) if w == "COMMIT"]
    assert len(commits) == 1 and commits[0] > creates[-1], words
    assert "BEGIN" in words[: creates[0]], words
