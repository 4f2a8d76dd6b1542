"""GET /current reports where the database is and never writes to it."""

from __future__ import annotations

import os

from api import create_app
from tests.databases import tables, version_rows
from tests.revision_graph import ALL, BASE, SECOND, TIP, upgrade_order
from tests.tokens import authorized


def test_unversioned_database(client, database_url, migrations):
    r = client.get("/current")
    assert r.status_code == 200
    assert r.get_json() == {
        "current": [],
        "heads": [TIP],
        "up_to_date": False,
        # Every revision, in the order Alembic's own upgrade would apply them.
        "pending": upgrade_order(migrations.path),
    }
    assert sorted(r.get_json()["pending"]) == sorted(ALL)
    # Plain `alembic current` creates the version table; a GET must not.
    assert tables(database_url) == set()


def test_pending_is_what_an_upgrade_applies(client, database_url):
    client.post("/upgrade", json={"target": SECOND})
    pending = client.get("/current").get_json()["pending"]
    applied = client.post("/upgrade").get_json()["applied"]
    assert pending == [s["revision"] for s in applied]
    assert client.get("/current").get_json()["up_to_date"] is True


def test_no_get_creates_the_sqlite_file(migrations, tmp_path, sqlite_only):
    path = tmp_path / "never.sqlite"
    app = create_app({"DATABASE_URL": f"sqlite:///{path}", "MIGRATIONS_DIR": str(migrations.path)})
    client = authorized(app.test_client())
    for url in ("/current", "/revisions", f"/revisions/{BASE}", "/heads", "/branches"):
        assert client.get(url).status_code == 200, url
    assert not os.path.exists(path)


def test_database_at_a_revision_the_directory_lacks(client, database_url):
    client.post("/stamp", json={"target": BASE})
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'abcdef999999'")
    engine.dispose()
    r = client.get("/current")
    assert r.status_code == 409
    assert r.get_json()["current"] == ["abcdef999999"]
    r = client.post("/upgrade")
    assert r.status_code == 409
    assert version_rows(database_url) == {"abcdef999999"}


def test_a_version_table_dropped_behind_the_service_reads_as_unversioned(client, database_url):
    import sqlalchemy as sa

    client.post("/upgrade", json={"target": BASE})
    assert client.get("/current").get_json()["current"] == [BASE]
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
    engine.dispose()
    r = client.get("/current")
    assert r.status_code == 200 and r.get_json()["current"] == []
