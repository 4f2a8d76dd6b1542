"""sql=true returns the SQL from the database's actual revision and changes nothing."""

from __future__ import annotations

from tests.databases import tables, version_rows
from tests.revision_graph import BASE, MERGE, SECOND, table


def test_upgrade_sql_starts_at_the_current_revision(client, database_url, sqlite_only):
    assert client.post("/upgrade", json={"target": "+2"}).status_code == 200
    before = tables(database_url)

    r = client.post("/upgrade", json={"sql": True})
    assert r.status_code == 200, r.get_json()
    sql = r.get_json()["sql"]
    assert f"CREATE TABLE {table(MERGE)}" in sql
    assert f"CREATE TABLE {table(BASE)}" not in sql  # already applied: not from base
    assert "CREATE TABLE alembic_version" not in sql
    assert r.get_json()["to"] == [SECOND]
    assert tables(database_url) == before
    assert version_rows(database_url) == {SECOND}


def test_downgrade_sql_is_relative_to_the_current_revision(client, database_url, sqlite_only):
    assert client.post("/upgrade", json={"target": "+2"}).status_code == 200
    r = client.post("/downgrade", json={"target": "-1", "sql": True})
    assert r.status_code == 200, r.get_json()
    sql = r.get_json()["sql"]
    assert f"DROP TABLE {table(SECOND)}" in sql
    assert f"DROP TABLE {table(BASE)}" not in sql
    assert version_rows(database_url) == {SECOND}
    assert table(SECOND) in tables(database_url)


def test_upgrade_sql_on_a_fresh_database_creates_the_version_table(
    client, database_url, sqlite_only
):
    r = client.post("/upgrade", json={"sql": True})
    assert r.status_code == 200
    assert "CREATE TABLE alembic_version" in r.get_json()["sql"]
    assert tables(database_url) == set()
