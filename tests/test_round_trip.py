"""Upgrade, downgrade and upgrade again through the API, checking the database itself each time."""

from __future__ import annotations

from tests.databases import tables, version_rows
from tests.revision_graph import ALL, BASE, FEATURE, MAIN, MERGE, SECOND, TIP, table


def test_round_trip(client, database_url):
    assert tables(database_url) == set()

    r = client.post("/upgrade", json={"target": "head"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["from"] == [] and body["to"] == [TIP]
    assert [s["revision"] for s in body["applied"]][:2] == [BASE, SECOND]
    assert [s["revision"] for s in body["applied"]][-2:] == [MERGE, TIP]
    assert sorted(s["revision"] for s in body["applied"]) == sorted(ALL)
    assert all(s["duration_ms"] >= 0 for s in body["applied"])
    assert body["applied"][0]["message"] == "create account"
    assert tables(database_url) == {table(r) for r in ALL} | {"alembic_version"}
    assert version_rows(database_url) == {TIP}

    r = client.post("/downgrade", json={"target": "-1"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["from"] == [TIP] and body["to"] == [MERGE]
    assert [s["revision"] for s in body["reverted"]] == [TIP]
    assert table(TIP) not in tables(database_url)
    assert table(MERGE) in tables(database_url)
    assert version_rows(database_url) == {MERGE}

    r = client.post("/downgrade", json={"target": "base"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["to"] == []
    assert {s["revision"] for s in body["reverted"]} == {MERGE, MAIN, FEATURE, SECOND, BASE}
    assert tables(database_url) == {"alembic_version"}
    assert version_rows(database_url) == set()

    r = client.post("/upgrade", json={})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["to"] == [TIP]
    assert version_rows(database_url) == {TIP}

    current = client.get("/current").get_json()
    assert current == {"current": [TIP], "heads": [TIP], "up_to_date": True, "pending": []}


def test_upgrade_when_already_at_target_applies_nothing(client, database_url):
    assert client.post("/upgrade").status_code == 200
    r = client.post("/upgrade")
    assert r.status_code == 200
    assert r.get_json()["applied"] == []
    assert r.get_json()["from"] == r.get_json()["to"] == [TIP]


def test_relative_and_prefix_upgrade(client, database_url):
    r = client.post("/upgrade", json={"target": "+2"})
    assert r.status_code == 200, r.get_json()
    assert [s["revision"] for s in r.get_json()["applied"]] == [BASE, SECOND]
    assert version_rows(database_url) == {SECOND}

    r = client.post("/upgrade", json={"target": "bbbb"})  # a unique prefix of FEATURE
    assert r.status_code == 200, r.get_json()
    assert version_rows(database_url) == {FEATURE}
    assert table(MAIN) not in tables(database_url)


def test_stamp_moves_the_version_without_running_migrations(client, database_url):
    r = client.post("/stamp", json={"target": SECOND})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["from"] == [] and r.get_json()["to"] == [SECOND]
    assert tables(database_url) == {"alembic_version"}
    assert version_rows(database_url) == {SECOND}

    r = client.post("/stamp", json={"target": BASE, "purge": True})
    assert r.status_code == 200, r.get_json()
    assert version_rows(database_url) == {BASE}


def test_downgrade_to_a_branch_revision_keeps_the_other_branch(client, database_url):
    assert client.post("/upgrade", json={"target": MERGE}).status_code == 200
    r = client.post("/downgrade", json={"target": MAIN})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["to"] == sorted([FEATURE, MAIN])
    assert version_rows(database_url) == {MAIN, FEATURE}


def test_relative_downgrade_from_several_heads_is_refused(client, database_url):
    assert client.post("/upgrade", json={"target": MERGE}).status_code == 200
    assert client.post("/downgrade", json={"target": MAIN}).status_code == 200

    r = client.post("/downgrade", json={"target": "-1"})
    assert r.status_code == 409
    problem = r.get_json()
    assert problem["current"] == sorted([FEATURE, MAIN])
    assert "several" in problem["detail"]
    assert version_rows(database_url) == {MAIN, FEATURE}
