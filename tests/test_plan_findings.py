"""Every finding code end to end, through POST /plan on each backend, with data in the tables:
each expected finding appears with the facts of the live data, and nothing else appears (a
false positive fails, and so does a clean revision with a finding). Then the data-loss guard
refuses each loss of existing data and runs it with the plan's plan_id."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from api import create_app, db
from api.service.plans import sql_digest
from api.service.risk import CODES
from tests import databases
from tests.databases import tables, version_rows
from tests.finding_project import (
    ALTERS,
    CLEAN,
    CLEAN_END,
    CONCURRENT,
    CONSTRAINTS,
    DATA,
    DROPS_COLUMNS,
    DROPS_SCHEMA,
    DROPS_TABLES,
    EMPTY,
    INDEXES,
    KEEPS,
    READS,
    REFUSES,
    RENAMES,
    REWRITES,
    fill,
    write_project,
)
from tests.tokens import authorized

SERVERS = ("postgresql", "mysql")
# Facts as (has_rows, rows_estimate, has_values), what the data put in by fill() makes them.
ACCOUNTS, ACCOUNTS_FILLED, ACCOUNTS_NULL = (True, 3, None), (True, 3, True), (True, 3, False)
ORDERS, EMPTY_TABLE, EMPTY_COLUMN = (True, 2, None), (False, 0, None), (False, 0, False)
ARCHIVE = (True, None, None)  # a schema's facts: whether any of its tables holds rows

# (backends, revision, code, table, column, blocking, facts); facts None: not about data.
UPGRADE = [
    (None, REFUSES, "AL102", None, None, False, None),
    (None, DROPS_COLUMNS, "DS103", "accounts", "plan", True, ACCOUNTS_FILLED),
    (None, DROPS_COLUMNS, "DS103", "accounts", "nickname", False, ACCOUNTS_NULL),
    (None, KEEPS, "AL101", None, None, False, None),
    (None, DROPS_TABLES, "DS102", "events", None, True, (True, 2, None)),
    (None, DROPS_TABLES, "DS102", "drafts", None, False, EMPTY_TABLE),
    (SERVERS, DROPS_SCHEMA, "DS101", None, None, True, ARCHIVE),
    (SERVERS, READS, "AL103", None, None, False, None),
    (None, INDEXES, "MF101", "accounts", "email", False, ACCOUNTS_FILLED),
    (("postgresql",), INDEXES, "PG105", "accounts", "email", False, ACCOUNTS_FILLED),
    (("postgresql",), INDEXES, "PG102", None, None, False, None),  # DROP INDEX names no table
    (None, INDEXES, "MF102", "accounts", "score", False, ACCOUNTS_FILLED),
    (("postgresql",), INDEXES, "PG101", "accounts", None, False, ACCOUNTS),
    (("postgresql",), INDEXES, "PG101", "orders", None, False, ORDERS),
    (("postgresql",), ALTERS, "PG301", "accounts", "score", False, ACCOUNTS_FILLED),
    (("mysql",), ALTERS, "MY130", "accounts", "score", False, ACCOUNTS_FILLED),
    (("mysql",), ALTERS, "MY130", "accounts", "email", False, ACCOUNTS_FILLED),
    (SERVERS, ALTERS, "MF104", "accounts", "email", False, ACCOUNTS_FILLED),
    (("postgresql",), ALTERS, "PG303", "accounts", "email", False, ACCOUNTS_FILLED),
    (None, ALTERS, "BC102", "accounts", "legacy", False, ACCOUNTS_FILLED),
    # The column does not exist yet: the facts say so, whatever the step will fill in.
    (("postgresql",), REWRITES, "PG302", "accounts", "rank", False, ACCOUNTS_NULL),
    (("postgresql", "sqlite"), EMPTY, "MF103", "empty_things", "label", False, EMPTY_COLUMN),
    (("mysql",), EMPTY, "MY101", "empty_things", "label", False, EMPTY_COLUMN),
    (None, RENAMES, "BC101", "legacy_notes", None, False, (True, 1, None)),
    (("postgresql",), CONSTRAINTS, "PG104", "links", None, False, (True, 2, None)),
    (("postgresql",), CONSTRAINTS, "PG305", "orders", None, False, ORDERS),
    (("postgresql",), CONSTRAINTS, "PG306", "orders", None, False, ORDERS),
    (("mysql",), CONSTRAINTS, "MY131", "orders", None, False, ORDERS),
]
# From head back to DATA, with the data as the upgrade left it.
DOWNGRADE = [
    (None, CLEAN_END, "DS103", "orders", "label_id", False, (True, 2, False)),
    (None, CLEAN_END, "DS102", "labels", None, False, EMPTY_TABLE),
    (None, RENAMES, "BC101", "notes", None, False, (True, 1, None)),
    (None, EMPTY, "DS103", "empty_things", "label", False, EMPTY_COLUMN),
    (("postgresql",), REWRITES, "DS103", "accounts", "rank", True, ACCOUNTS_FILLED),
    (None, ALTERS, "BC102", "accounts", "handle", False, ACCOUNTS_FILLED),
    (("postgresql",), ALTERS, "PG301", "accounts", "score", False, ACCOUNTS_FILLED),
    (("mysql",), ALTERS, "MY130", "accounts", "email", False, ACCOUNTS_FILLED),
    (("mysql",), ALTERS, "MY130", "accounts", "score", False, ACCOUNTS_FILLED),
    (("postgresql",), INDEXES, "PG102", None, None, False, None),
    (("postgresql",), INDEXES, "PG102", None, None, False, None),
    (("postgresql",), INDEXES, "PG101", "accounts", None, False, ACCOUNTS),
    (None, KEEPS, "AL101", None, None, False, None),
    # Past REFUSES, where the rollback stops; PostgreSQL would refuse it anyway.
    (("postgresql",), CONCURRENT, "PG103", None, None, False, None),  # DROP INDEX names no table
    (None, CLEAN, "DS103", "accounts", "status", True, ACCOUNTS_FILLED),
    (None, CLEAN, "DS103", "accounts", "bio", False, ACCOUNTS_NULL),
    (None, CLEAN, "DS102", "tags", None, False, EMPTY_TABLE),
    (None, REFUSES, "AL102", None, None, False, None),
]


def expected(cases: list[tuple], backend: str) -> list[tuple]:
    """The cases of ``backend``, as :func:`found` reads a plan's findings."""
    return sorted(case[1:] for case in cases if case[0] is None or backend in case[0])


def found(plan: dict) -> list[tuple]:
    """(revision, code, table, column, blocking, (has_rows, rows_estimate, has_values))."""
    rows = []
    for f in plan["findings"]:
        facts = f["facts"]
        if facts is not None:
            assert facts["has_rows"] == (facts.get("rows_estimate", 1) > 0), facts
            facts = (facts["has_rows"], facts.get("rows_estimate"), facts.get("has_values"))
        rows.append((f["revision"], f["code"], f["table"], f["column"], f["blocking"], facts))
    return sorted(rows, key=repr)


@pytest.fixture
def project(tmp_path, backend, database_url):
    """The directory for ``backend``, the database at DATA with rows in its tables."""
    archive = {"postgresql": "archive", "mysql": f"{make_url(database_url).database}_archive"}
    schema = archive.get(backend)
    write_project(tmp_path / "migrations", backend, schema)
    app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(tmp_path / "migrations")})
    client = authorized(app.test_client())
    try:
        assert client.post("/upgrade", json={"target": DATA}).status_code == 200
        fill(database_url, schema)
        yield client, schema
    finally:
        with app.app_context():
            db.engine.dispose()
        if backend == "mysql":  # a MariaDB schema is a database of the server's own
            admin = sa.create_engine(databases.servers()[backend])
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {schema}")
            admin.dispose()


def test_the_upgrade_plan_finds_each_code_with_the_live_facts(project, backend, database_url):
    client, _ = project
    r = client.post("/plan", json={"action": "upgrade", "target": "head"})
    assert r.status_code == 200, r.get_json()
    plan = r.get_json()
    assert found(plan) == sorted(expected(UPGRADE, backend), key=repr)
    steps = {s["revision"]: s for s in plan["steps"]}
    assert steps[CLEAN]["findings"] == steps[CLEAN_END]["findings"] == []
    if backend == "postgresql":  # the non-locking forms are in the SQL, and pass
        assert steps[CONCURRENT]["findings"] == []
        assert "CREATE INDEX CONCURRENTLY" in steps[CONCURRENT]["sql"]
        assert "CREATE INDEX CONCURRENTLY" in steps[CLEAN]["sql"]
        assert steps[CLEAN_END]["sql"].count("NOT VALID") == 2
    refusal = next(f for f in plan["findings"] if f["code"] == "AL102")
    assert refusal["severity"] == "warning"  # a later rollback stops there; this runs
    assert plan["blocking"] == (3 if backend in SERVERS else 2)
    assert version_rows(database_url) == {DATA}  # nothing ran


def test_each_loss_is_refused_then_runs_with_its_plan(project, backend, database_url):
    client, schema = project
    # Each loss of existing data on its own, through the upgrade that destroys it.
    _guarded(client, "upgrade", DROPS_COLUMNS, [("DS103", "accounts", "plan")], database_url)
    assert {"plan", "nickname"}.isdisjoint(_columns(database_url, "accounts"))
    _guarded(client, "upgrade", DROPS_TABLES, [("DS102", "events", None)], database_url)
    assert {"events", "drafts"}.isdisjoint(tables(database_url))
    if schema:
        _guarded(client, "upgrade", DROPS_SCHEMA, [("DS101", None, None)], database_url)
        assert schema not in _schemas(database_url)
    r = client.post("/upgrade")  # nothing left that destroys data: runs as it always did
    assert r.status_code == 200, r.get_json()

    r = client.post("/plan", json={"action": "downgrade", "target": DATA})
    assert r.status_code == 200, r.get_json()
    plan = r.get_json()
    assert found(plan) == sorted(expected(DOWNGRADE, backend), key=repr)
    refusal = next(f for f in plan["findings"] if f["code"] == "AL102")
    assert refusal["severity"] == "error"  # this rollback stops there

    # A rollback that drops a filled column (and, on PostgreSQL, the random rank).
    lost = [("DS103", "accounts", "status")]
    lost += [("DS103", "accounts", "rank")] if backend == "postgresql" else []
    _guarded(client, "downgrade", REFUSES, lost, database_url)
    assert {"status", "rank", "bio"}.isdisjoint(_columns(database_url, "accounts"))
    assert {"plan", "nickname", "legacy"} <= _columns(database_url, "accounts")


def _guarded(client, action: str, target: str, lost: list[tuple], url: str) -> None:
    """``action`` to ``target`` is refused with what it loses and changes nothing; with the
    refusal's plan_id it runs."""
    before = version_rows(url)
    r = client.post(f"/{action}", json={"target": target})
    assert r.status_code == 409, r.get_json()
    problem = r.get_json()
    assert problem["type"] == "urn:migrateway:problem:unacknowledged-data-loss"
    blocking = [(f["code"], f["table"], f["column"]) for f in problem["findings"] if f["blocking"]]
    assert sorted(blocking, key=repr) == sorted(lost, key=repr)
    assert version_rows(url) == before
    r = client.post(f"/{action}", json={"target": target, "plan_id": problem["plan_id"]})
    assert r.status_code == 200, r.get_json()
    assert version_rows(url) == {target}


def _columns(url: str, table: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def _schemas(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_schema_names())
    finally:
        engine.dispose()


def test_the_cases_cover_every_code():
    """A code added to the table without an end-to-end case here fails; a PostgreSQL or MySQL
    code is expected on its own backend alone."""
    cases = UPGRADE + DOWNGRADE
    assert {case[2] for case in cases} == set(CODES)
    for backends, _, code, *_ in cases:
        own = {"PG": ("postgresql",), "MY": ("mysql",)}.get(code[:2])
        assert own is None or backends == own, code


def test_a_batch_copy_keeps_its_plan_id_whatever_order_it_writes_constraints_and_indexes():
    """Alembic's SQLite batch copy writes a table's constraints and recreates its indexes in an
    order that changes from one run to the next; the plan_id the guard answers with must still
    run the change, and a change of what the step does must still change it."""
    check, key = "CONSTRAINT c CHECK (x > 0)", "CONSTRAINT f FOREIGN KEY(y) REFERENCES u (id)"
    table = "CREATE TABLE _alembic_tmp_t (\n\tx INTEGER, \n\ty INTEGER, \n\t{}, \n\t{}\n);\n\n"
    first, second = "CREATE UNIQUE INDEX a ON t (x);\n\n", "CREATE INDEX b ON t (y);\n\n"
    one = table.format(check, key) + first + second
    assert sql_digest(one) == sql_digest(table.format(key, check) + second + first)
    assert sql_digest(one) != sql_digest(table.format(check, key) + first)
    assert sql_digest(one) != sql_digest(one.replace("x > 0", "x > 1"))
