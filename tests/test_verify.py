"""GET /verify: every applied revision's file against the file as it was applied."""

from __future__ import annotations

import zlib

import alembic
import sqlalchemy as sa

from api import create_app, db
from api.service.oplog.applied import applied_revisions
from tests.revision_graph import ALL, BASE, FEATURE, MAIN, MERGE, SECOND, TIP
from tests.tokens import authorized

FAILING = "ffff00000007"


def statuses(client) -> dict[str, str]:
    r = client.get("/verify")
    assert r.status_code == 200, r.get_json()
    return {item["revision"]: item["status"] for item in r.get_json()["revisions"]}


def records(app) -> dict[str, dict]:
    """The applied_revisions rows, read straight from the log's table."""
    log = app.extensions["migrateway"].oplog
    with log.engine.connect().execution_options(**log._options) as conn:
        rows = conn.execute(sa.select(applied_revisions)).mappings().all()
    return {row["revision"]: dict(row) for row in rows}


def file_of(migrations, rev: str):
    return next((migrations.path / "versions").glob(f"{rev}_*.py"))


def test_an_upgrade_of_n_revisions_records_n_rows_and_reads_ok(app, client, migrations):
    assert client.get("/verify").get_json()["revisions"] == []  # nothing applied yet
    up = client.post("/upgrade", json={"target": MERGE}).get_json()
    assert len(up["applied"]) == 5
    rows = records(app)
    assert set(rows) == {BASE, SECOND, FEATURE, MAIN, MERGE}
    row = rows[MAIN]
    assert row["operation_id"] == up["operation_id"] and row["kind"] == "upgrade"
    assert (row["alembic_version"], row["sqlalchemy_version"]) == (
        alembic.__version__,
        sa.__version__,
    )
    # The file itself, compressed.
    assert zlib.decompress(row["content"]) == file_of(migrations, MAIN).read_bytes()
    assert len(row["sha256"]) == 64
    assert row["down_revisions"] == [SECOND]

    body = client.get("/verify").get_json()
    assert body["ok"] is True
    assert body["drift"]["models"]["checked"] in (True, False)
    # Newest first, each with its record and the file's checksum now.
    assert [i["revision"] for i in body["revisions"]][0] == MERGE
    main = next(i for i in body["revisions"] if i["revision"] == MAIN)
    assert main["status"] == "ok" and main["recorded_sha256"] == main["current_sha256"]
    assert main["operation_id"] == up["operation_id"] and main["applied_at"]
    assert "diff" not in main


def test_an_edited_file_reads_file_changed_with_its_diff_and_line_endings_do_not(
    client, migrations
):
    assert client.post("/upgrade", json={"target": MERGE}).status_code == 200
    path = file_of(migrations, MAIN)
    original = path.read_bytes()

    # Only the line endings and a BOM: the same file checked out on another OS.
    path.write_bytes(b"\xef\xbb\xbf" + original.replace(b"\n", b"\r\n"))
    assert statuses(client)[MAIN] == "ok"

    path.write_bytes(original.replace(b"sa.Integer", b"sa.BigInteger"))
    body = client.get("/verify").get_json()
    assert body["ok"] is False
    main = next(i for i in body["revisions"] if i["revision"] == MAIN)
    assert main["status"] == "file_changed"
    assert main["recorded_sha256"] != main["current_sha256"]
    assert "-    op.create_table('t_cccc00000004', sa.Column('id', sa.Integer" in main["diff"]
    assert "+    op.create_table('t_cccc00000004', sa.Column('id', sa.BigInteger" in main["diff"]
    assert main["diff"].startswith(f"--- {path.name} (as applied)\n+++ {path.name} (now)\n")
    assert {r: s for r, s in statuses(client).items() if r != MAIN} == dict.fromkeys(
        [MERGE, FEATURE, SECOND, BASE], "ok"
    )


def test_a_deleted_file_reads_missing_file_and_the_walk_goes_on_below_it(client, migrations):
    assert client.post("/upgrade", json={"target": TIP}).status_code == 200
    file_of(migrations, TIP).unlink()
    body = client.get("/verify").get_json()
    tip = body["revisions"][0]
    assert tip["revision"] == TIP and tip["status"] == "missing_file"
    assert tip["recorded_sha256"] and tip["current_sha256"] is None
    assert statuses(client) == {TIP: "missing_file", **dict.fromkeys(ALL[:-1], "ok")}
    assert body["ok"] is False
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'migrateway_applied_revisions{status="missing_file"} 1.0' in metrics
    assert 'migrateway_applied_revisions{status="ok"} 5.0' in metrics


def test_a_downgrade_removes_the_rows_of_what_it_reverts_and_a_stamp_records(app, client):
    assert client.post("/upgrade", json={"target": TIP}).status_code == 200
    assert client.post("/downgrade", json={"target": SECOND}).status_code == 200
    assert set(records(app)) == {BASE, SECOND}
    stamp = client.post("/stamp", json={"target": MAIN}).get_json()
    rows = records(app)
    assert set(rows) == {BASE, SECOND, MAIN}
    assert rows[MAIN]["kind"] == "stamp" and rows[MAIN]["operation_id"] == stamp["operation_id"]
    assert statuses(client) == dict.fromkeys([MAIN, SECOND, BASE], "ok")


def test_a_failed_chain_records_what_the_database_kept(app, client, migrations, database_url):
    migrations.add(FAILING, TIP, message="breaks", upgrade="raise RuntimeError('boom')")
    assert client.post("/upgrade", json={"target": "heads"}).status_code == 422
    # Every revision before the failing one committed (a transaction per migration), with
    # the digest of the SQL its step ran; the failing one has no record.
    rows = records(app)
    assert set(rows) == set(ALL)
    assert all(len(row["sql_digest"]) == 64 for row in rows.values())
    assert statuses(client) == dict.fromkeys(ALL, "ok")


def test_a_database_upgraded_before_the_feature_reads_unknown_prior(
    migrations, database_url, tmp_path
):
    first = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
    client = authorized(first.test_client())
    assert client.post("/upgrade", json={"target": SECOND}).status_code == 200
    # The log as an earlier version left it: operations, no applied_revisions.
    log = first.extensions["migrateway"].oplog
    with log.engine.connect().execution_options(**log._options) as conn:
        applied_revisions.drop(conn)
        conn.commit()
    with first.app_context():
        db.engine.dispose()
    log.engine.dispose()

    app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
    client = authorized(app.test_client())
    body = client.get("/verify").get_json()
    assert statuses(client) == {SECOND: "unknown_prior", BASE: "unknown_prior"}
    assert body["ok"] is True  # listed, not held against it
    assert body["revisions"][0]["recorded_sha256"] is None
    assert body["revisions"][0]["current_sha256"]

    # New revisions are recorded; the earlier ones stay unknown until accepted.
    assert client.post("/upgrade", json={"target": MAIN}).status_code == 200
    assert statuses(client) == {MAIN: "ok", SECOND: "unknown_prior", BASE: "unknown_prior"}
    r = client.post("/verify/accept", json={"revisions": [BASE, SECOND]})
    assert r.status_code == 200, r.get_json()
    accepted = r.get_json()["revisions"]
    assert [(a["revision"], a["status"], a["accepted_by"]) for a in accepted] == [
        (BASE, "ok", "tester"),
        (SECOND, "ok", "tester"),
    ]
    assert accepted[0]["applied_at"] is None  # when it was applied is not known
    assert statuses(client) == dict.fromkeys([MAIN, SECOND, BASE], "ok")
    with app.app_context():
        db.engine.dispose()
    app.extensions["migrateway"].oplog.engine.dispose()
