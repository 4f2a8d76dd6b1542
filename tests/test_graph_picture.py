"""GET /revisions/graph: the revision graph as DOT, SVG and Mermaid, marked with where the
database is, for linear, branched and merged histories. Choosing the format and the renderer:
tests/test_graph_rendering.py."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from api import db
from tests.graph_formats import dot_to_svg, read_mermaid, read_svg, require_dot
from tests.graph_histories import HISTORIES, MID_WAY, make_client
from tests.revision_graph import ALL, BASE, FEATURE, MAIN, MERGE, SECOND, TIP


def drawn(client, fmt: str, revisions: list[str]):
    """GET /revisions/graph?format=fmt, checked for its media type and read back."""
    r = client.get(f"/revisions/graph?format={fmt}")
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_data(as_text=True)
    if fmt == "dot":
        assert r.content_type == "text/vnd.graphviz; charset=utf-8"
        return read_svg(dot_to_svg(body))
    if fmt == "svg":
        assert r.content_type == "image/svg+xml"
        return read_svg(body)
    assert r.content_type == "text/plain; charset=utf-8"
    return read_mermaid(body, revisions)


@pytest.mark.parametrize("fmt", ["dot", "svg", "mermaid"])
@pytest.mark.parametrize("history", list(HISTORIES))
def test_each_format_draws_every_revision_and_edge(
    history, fmt, tmp_path, database_url, sqlite_only, close_app
):
    require_dot()
    build, revisions, edges = HISTORIES[history]
    app, client = make_client(build(tmp_path / "migrations"), database_url)
    close_app(app)
    picture = drawn(client, fmt, revisions)
    assert set(picture.labels) == set(revisions)
    assert picture.edges == edges
    assert set(picture.states.values()) == {"pending"}  # nothing applied yet
    legend = " / ".join(picture.legend)
    for words in ("current", "applied", "pending", "head", "merge", "database at base"):
        assert words in legend, legend


def roles(picture) -> dict[str, str]:
    """Each revision's first label line (short id, roles, labels)."""
    return {rev: lines[0] for rev, lines in picture.labels.items()}


@pytest.mark.parametrize("fmt", ["dot", "svg", "mermaid"])
def test_heads_bases_branch_points_merges_and_labels_are_named(
    fmt, client, sqlite_only, migrations
):
    require_dot()
    first = roles(drawn(client, fmt, list(ALL)))
    assert first[BASE] == f"{BASE} · base"  # aaaa00000001 and ...2 share 11 characters
    assert first[SECOND] == f"{SECOND} · branch point"
    assert first[FEATURE] == "bbbb0000 · label feature"  # where the file declares it only
    assert first[MAIN] == "cccc0000"
    assert first[MERGE] == "dddd0000 · merge"
    assert first[TIP] == "eeee0000 · head"


def test_a_database_mid_way_is_marked_in_every_format(client, database_url):
    """On every backend: current, applied and pending as the version table says."""
    require_dot()
    assert client.post("/upgrade", json={"target": MAIN}).status_code == 200
    expected = {
        BASE: "applied",
        SECOND: "applied",
        MAIN: "current",
        FEATURE: "pending",
        MERGE: "pending",
        TIP: "pending",
    }
    for fmt in ("dot", "svg", "mermaid"):
        picture = drawn(client, fmt, list(ALL))
        assert picture.states == expected, fmt
        assert any("database at cccc0000: 3 applied, 3 pending" in x for x in picture.legend)
    # What the picture calls pending is what GET /current says an upgrade would run.
    pending = set(client.get("/current").get_json()["pending"])
    assert pending == {rev for rev, state in expected.items() if state == "pending"}

    assert client.post("/upgrade", json={"target": "heads"}).status_code == 200
    states = drawn(client, "mermaid", list(ALL)).states
    assert states == {**dict.fromkeys(ALL, "applied"), TIP: "current"}


@pytest.mark.parametrize("fmt", ["dot", "svg", "mermaid"])
@pytest.mark.parametrize("history", list(HISTORIES))
def test_each_history_mid_way_is_marked_in_each_format(
    history, fmt, tmp_path, database_url, sqlite_only, close_app
):
    require_dot()
    build, revisions, _ = HISTORIES[history]
    app, client = make_client(build(tmp_path / "migrations"), database_url)
    close_app(app)
    target, expected = MID_WAY[history]
    assert client.post("/upgrade", json={"target": target}).status_code == 200
    picture = drawn(client, fmt, revisions)
    assert picture.states == expected
    pending = set(client.get("/current").get_json()["pending"])
    assert pending == {rev for rev, state in expected.items() if state == "pending"}
    applied = sum(state != "pending" for state in expected.values())
    short = picture.labels[target][0].split(" ")[0]  # the id as the picture names it
    caption = f"database at {short}: {applied} applied, {len(expected) - applied} pending"
    assert any(caption in line for line in picture.legend), picture.legend


def test_two_current_heads_are_both_marked(client, sqlite_only):
    require_dot()
    assert client.post("/upgrade", json={"target": MAIN}).status_code == 200
    assert client.post("/upgrade", json={"target": FEATURE}).status_code == 200
    for fmt in ("svg", "mermaid"):
        states = drawn(client, fmt, list(ALL)).states
        assert {rev for rev, s in states.items() if s == "current"} == {MAIN, FEATURE}
        assert states[SECOND] == "applied" and states[MERGE] == "pending"


TRICKY = 'quotes "x" & <b>bold</b> &lt;\nsecond # `tick` \\ back'


def test_messages_are_escaped_and_shown_as_written(migrations, database_url, sqlite_only):
    require_dot()
    # Written in place afterwards: as a file name, the message would be a path.
    path = migrations.add("ffff00000007", TIP, message="placeholder")
    docstring = TRICKY.replace("\\", "\\\\")  # one backslash in the docstring's value
    path.write_text(path.read_text().replace("placeholder", docstring, 1))
    app, client = make_client(migrations, database_url)
    try:
        revisions = [*ALL, "ffff00000007"]
        for fmt in ("dot", "svg", "mermaid"):
            lines = drawn(client, fmt, revisions).labels["ffff00000007"]
            assert lines[1:] == TRICKY.split("\n"), fmt
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_database_at_a_revision_the_directory_lacks_is_still_drawn(
    client, app, database_url, sqlite_only
):
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('9999deadbeef')"))
    engine.dispose()
    r = client.get("/revisions/graph?format=mermaid")
    assert r.status_code == 200
    picture = read_mermaid(r.get_data(as_text=True), list(ALL))
    assert set(picture.states.values()) == {"pending"}
    assert any("9999deadbeef not in this migrations directory" in x for x in picture.legend)


@pytest.mark.parametrize("fmt", ["dot", "svg", "mermaid"])
def test_limit_draws_the_newest_revisions_and_one_node_for_the_older(fmt, client, sqlite_only):
    require_dot()
    assert client.post("/upgrade", json={"target": MAIN}).status_code == 200
    r = client.get(f"/revisions/graph?format={fmt}&limit=2")
    assert r.status_code == 200
    body = r.get_data(as_text=True)
    picture = (
        read_mermaid(body, list(ALL))
        if fmt == "mermaid"
        else read_svg(dot_to_svg(body) if fmt == "dot" else body)
    )
    assert set(picture.labels) == {TIP, MERGE, "older"}
    assert picture.labels["older"] == ["… 4 older revisions"]
    # MERGE's two parents are not shown: one arrow from the older ones.
    assert picture.edges == {("older", MERGE), (MERGE, TIP)}
    assert picture.states == {TIP: "pending", MERGE: "pending"}
    assert any("database at cccc0000: 3 applied, 3 pending" in x for x in picture.legend)
