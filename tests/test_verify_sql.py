"""The digest of the SQL each applied revision's step executed, as GET /verify shows it: taken
while the step runs, the same for the same revisions on two databases of one dialect."""

from __future__ import annotations

import re
import shutil

import pytest
import sqlalchemy as sa

from api import create_app, db
from api.service.database import VersionTable
from api.service.step_digests import StepDigests
from tests import databases
from tests.revision_graph import ALL, BASE, FEATURE, MAIN, MERGE, SECOND, TIP, standard_graph
from tests.servers import Gunicorn
from tests.test_version_table import CUSTOM, PLAIN_ENV
from tests.tokens import authorized

ITEMS, COPY = "ffff00000011", "ffff00000012"

# Constraints and indexes (which Alembic's SQLite batch copy writes in an order of its own),
# and rows given as parameters.
ITEMS_UP = """op.create_table('items', sa.Column('id', sa.Integer, primary_key=True),
    sa.Column('x', sa.Integer), sa.Column('y', sa.Integer), sa.Column('z', sa.Integer),
    sa.CheckConstraint('x > 0', name='ck_items_x'), sa.CheckConstraint('y > 0', name='ck_items_y'),
    sa.UniqueConstraint('z', name='uq_items_z'), sa.UniqueConstraint('x', 'z', name='uq_items_xz'))
for name, columns in [('ix_a', ['x']), ('ix_b', ['y']), ('ix_c', ['z', 'y']), ('ix_d', ['x', 'y'])]:
    op.create_index(name, 'items', columns)
items = sa.table('items', sa.column('id'), sa.column('x'), sa.column('y'), sa.column('z'))
op.bulk_insert(items, [{'id': 1, 'x': 1, 'y': 2, 'z': 3}, {'id': 2, 'x': 4, 'y': 5, 'z': 6}])"""
# On SQLite a copy of the table (create, insert-select, drop, rename, the indexes again).
COPY_UP = """recreate = 'always' if op.get_context().dialect.name == 'sqlite' else 'auto'
with op.batch_alter_table('items', recreate=recreate) as batch:
    batch.add_column(sa.Column('w', sa.Integer))"""
APPLIED = (*ALL, ITEMS, COPY)


@pytest.fixture
def migrations(tmp_path):
    """The standard graph, then a table with constraints, indexes and rows, then its copy."""
    migrations = standard_graph(tmp_path / "migrations")
    migrations.add(ITEMS, TIP, message="items", upgrade=ITEMS_UP, downgrade="pass")
    migrations.add(COPY, ITEMS, message="copy items", upgrade=COPY_UP, downgrade="pass")
    return migrations


@pytest.fixture
def second_url(backend, database_url, tmp_path):
    """A second new database on the same server."""
    (tmp_path / "second").mkdir()
    with databases.fresh_database(databases.servers()[backend], tmp_path / "second") as url:
        yield url


def digests(client) -> dict[str, tuple[str | None, str | None]]:
    """(sql_digest, dialect) of each applied revision, as GET /verify shows them."""
    r = client.get("/verify")
    assert r.status_code == 200, r.get_json()
    return {i["revision"]: (i["sql_digest"], i["dialect"]) for i in r.get_json()["revisions"]}


def _other(migrations, tmp_path, name: str):
    """A copy of the migrations directory."""
    path = tmp_path / name
    shutil.copytree(migrations.path, path)
    return path


def test_every_revision_an_upgrade_applies_has_the_digest_of_the_sql_its_step_ran(app, client):
    r = client.post("/upgrade", json={"target": "heads"})
    assert r.status_code == 200, r.get_json()
    shown = digests(client)
    assert set(shown) == set(APPLIED)
    dialect = app.extensions["migrateway"].engine.dialect.name
    for rev, (digest, on) in shown.items():
        assert re.fullmatch(r"[0-9a-f]{64}", digest or ""), rev
        assert on == dialect, rev
    # Each step created its own table: no two steps ran the same SQL.
    assert len({digest for digest, _ in shown.values()}) == len(APPLIED)


def test_the_same_revisions_on_two_databases_give_the_same_digests(
    client, migrations, second_url, tmp_path
):
    """One database upgraded here; another by a gunicorn process (another hash seed: Alembic's
    batch copy orders constraints and indexes otherwise) whose env.py is a plain one keeping a
    version table of another name, with a DDL lock timeout set on its connection."""
    assert client.post("/upgrade", json={"target": "heads"}).status_code == 200
    plain = _other(migrations, tmp_path, "plain")
    (plain / "env.py").write_text(PLAIN_ENV)
    server = Gunicorn(
        {"DATABASE_URL": second_url, "MIGRATIONS_DIR": str(plain), "VERSION_TABLE": CUSTOM}
    )
    try:
        r = server.post("/upgrade", json={"target": "heads", "ddl_lock_timeout": 5})
        assert r.status_code == 200, r.json()
        there = server.get("/verify").json()["revisions"]
    finally:
        server.stop()
    assert CUSTOM in databases.tables(second_url)
    here = digests(client)
    assert {i["revision"]: (i["sql_digest"], i["dialect"]) for i in there} == here
    assert None not in {digest for digest, _ in here.values()}


def test_a_revision_whose_sql_differs_has_another_digest(client, migrations, second_url, tmp_path):
    """The same revisions on a second database, two of them edited: one creates a column of
    another type (other statement text), one inserts another value (other parameters)."""
    assert client.post("/upgrade", json={"target": "heads"}).status_code == 200
    edited = _other(migrations, tmp_path, "edited")
    for rev, old, new in [(TIP, "sa.Integer", "sa.BigInteger"), (ITEMS, "'x': 4", "'x': 7")]:
        path = next((edited / "versions").glob(f"{rev}_*.py"))
        path.write_text(path.read_text().replace(old, new))
    app = create_app({"DATABASE_URL": second_url, "MIGRATIONS_DIR": str(edited)})
    try:
        other = authorized(app.test_client())
        assert other.post("/upgrade", json={"target": "heads"}).status_code == 200
        there = digests(other)
    finally:
        with app.app_context():
            db.engine.dispose()
    here = digests(client)
    assert {rev for rev in APPLIED if here[rev] != there[rev]} == {TIP, ITEMS}


def test_a_stamped_revision_has_no_digest_and_accepting_its_file_keeps_one(client):
    assert client.post("/upgrade", json={"target": SECOND}).status_code == 200
    assert client.post("/stamp", json={"target": TIP}).status_code == 200
    shown = digests(client)
    assert {rev: shown[rev] for rev in (FEATURE, MAIN, MERGE, TIP)} == dict.fromkeys(
        (FEATURE, MAIN, MERGE, TIP), (None, None)
    )
    assert shown[BASE][0] and shown[SECOND][0]
    # Accepting a file records it anew; the SQL its step ran stays as recorded.
    r = client.post("/verify/accept", json={"revisions": [SECOND]})
    assert r.status_code == 200, r.get_json()
    assert digests(client)[SECOND] == shown[SECOND]


def test_the_order_a_batch_copy_writes_constraints_and_indexes_in_does_not_count(
    sqlite_only, database_url
):
    """Statements executed on SQLite while a step runs: a table's constraint lines and a run
    of CREATE INDEX in another order give the same digest; other SQL, or other parameters,
    another; the version table's rows, and statements between steps, nothing."""
    table = "CREATE TABLE t (\n\tx INTEGER, \n\ty INTEGER, \n\t{}, \n\t{}\n)"
    check, unique = "CONSTRAINT c CHECK (x > 0)", "CONSTRAINT u UNIQUE (y)"
    index_x, index_y = "CREATE INDEX ix_x ON t (x)", "CREATE INDEX ix_y ON t (y)"
    insert = "INSERT INTO t (x, y) VALUES (?, ?)"
    steps = {
        "one": [table.format(check, unique), index_x, index_y, (insert, (1, 2))],
        "reordered": [table.format(unique, check), index_y, index_x, (insert, (1, 2))],
        "other sql": [table.format(check, "CONSTRAINT u UNIQUE (x)"), index_x, index_y],
        "other values": [table.format(check, unique), index_x, index_y, (insert, (1, 3))],
    }
    versions = sa.table("alembic_version", sa.column("version_num"))
    found = StepDigests()
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32))")
            found.watch(conn, "default", VersionTable())
            for name, statements in steps.items():
                found.begin("default", name)
                for statement in statements:
                    sql, params = statement if isinstance(statement, tuple) else (statement, ())
                    conn.exec_driver_sql(sql, params)
                if name == "one":  # Alembic's bookkeeping, in this step alone
                    conn.execute(versions.insert().values(version_num=name))
                found.end()
                conn.exec_driver_sql("DROP TABLE t")  # between steps: no step's
    finally:
        engine.dispose()
    one = found.get("default", "one")
    assert one[1] == "sqlite" and re.fullmatch(r"[0-9a-f]{64}", one[0])
    assert found.get("default", "reordered") == one
    assert found.get("default", "other sql") != one
    assert found.get("default", "other values") != one
    assert found.get("default", "never ran") == (None, None)
