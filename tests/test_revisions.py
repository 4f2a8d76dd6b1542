"""GET /revisions, /revisions/<rev>, /heads and /branches on the standard graph."""

from __future__ import annotations

import pytest

from tests.revision_graph import ALL, BASE, FEATURE, MAIN, MERGE, SECOND, TIP

pytestmark = pytest.mark.usefixtures("sqlite_only")


def test_lists_the_whole_graph_newest_first(client):
    r = client.get("/revisions")
    assert r.status_code == 200
    page = r.get_json()
    assert page["total"] == len(ALL) and page["offset"] == 0 and page["limit"] is None
    ids = [item["revision"] for item in page["items"]]
    assert ids[0] == TIP and ids[-1] == BASE and sorted(ids) == sorted(ALL)
    assert ids.index(MERGE) < ids.index(MAIN) < ids.index(SECOND)
    assert ids.index(MERGE) < ids.index(FEATURE) < ids.index(SECOND)


def test_revision_fields(client):
    by_id = {item["revision"]: item for item in client.get("/revisions").get_json()["items"]}
    merge = by_id[MERGE]
    assert merge["down_revisions"] == [MAIN, FEATURE]
    assert merge["is_merge_point"] and not merge["is_head"]
    assert merge["created_at"] is None  # the script has no Create Date
    assert merge["message"] == "merge feature"
    assert merge["path"] == f"versions/{MERGE}_merge_feature.py"

    base = by_id[BASE]
    assert base["is_base"] and base["down_revisions"] == []
    assert base["created_at"] == "2026-01-02T03:04:05.000006"
    assert by_id[SECOND]["is_branch_point"]
    assert by_id[FEATURE]["branch_labels"] == ["feature"]
    assert by_id[TIP]["is_head"]
    assert not any(item["applied"] for item in by_id.values())


def test_applied_follows_the_database(client):
    assert client.post("/upgrade", json={"target": FEATURE}).status_code == 200
    items = client.get("/revisions").get_json()["items"]
    applied = {item["revision"] for item in items if item["applied"]}
    assert applied == {BASE, SECOND, FEATURE}


def test_paging_returns_every_revision_once(client):
    seen = []
    for offset in range(0, len(ALL) + 2, 2):
        page = client.get(f"/revisions?limit=2&offset={offset}").get_json()
        assert page["total"] == len(ALL) and page["limit"] == 2
        seen += [item["revision"] for item in page["items"]]
    full = [item["revision"] for item in client.get("/revisions").get_json()["items"]]
    assert seen == full


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=-1",
        "limit=abc",
        "offset=-3",
        "limit=100001",
        "color=red",
        "limit=1&limit=2",
    ],
)
def test_bad_query_is_a_400_problem(client, query):
    r = client.get(f"/revisions?{query}")
    assert r.status_code == 400
    assert r.content_type == "application/problem+json"
    assert r.get_json()["errors"]


def test_large_limit_is_accepted(client):
    assert client.get("/revisions?limit=10000").status_code == 200


@pytest.mark.parametrize(
    ("ident", "expected"),
    [(MAIN, MAIN), ("cccc", MAIN), ("head", TIP), ("feature@head", TIP), ("heads", TIP)],
)
def test_show_resolves_ids_prefixes_and_symbols(client, ident, expected):
    r = client.get(f"/revisions/{ident}")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["revision"] == expected


def test_unknown_revision_is_404(client):
    r = client.get("/revisions/ffff99999999")
    assert r.status_code == 404
    assert r.content_type == "application/problem+json"
    assert r.get_json()["type"].endswith(":unknown-revision")
    assert r.get_json()["revision"] == "ffff99999999"


def test_ambiguous_prefix_lists_the_candidates(client):
    r = client.get("/revisions/aaaa0000")
    assert r.status_code == 400
    problem = r.get_json()
    assert problem["type"].endswith(":ambiguous-revision")
    assert problem["candidates"] == [BASE, SECOND]


def test_head_with_several_heads_is_409_naming_them(client, migrations):
    migrations.add("ffff00000007", BASE, message="second line")
    r = client.get("/revisions/head")
    assert r.status_code == 409
    assert r.get_json()["heads"] == sorted([TIP, "ffff00000007"])


def test_heads_and_branches(client, migrations):
    heads = client.get("/heads").get_json()["items"]
    assert [h["revision"] for h in heads] == [TIP]

    branches = client.get("/branches").get_json()["items"]
    assert branches == [
        {"revision": SECOND, "message": "create item", "next_revisions": sorted([FEATURE, MAIN])}
    ]


def test_a_revision_file_added_on_disk_is_seen_by_the_next_request(client, migrations):
    assert client.get("/revisions").get_json()["total"] == len(ALL)
    migrations.add("ffff00000007", TIP, message="added later")
    page = client.get("/revisions").get_json()
    assert page["total"] == len(ALL) + 1
    assert page["items"][0]["revision"] == "ffff00000007"
