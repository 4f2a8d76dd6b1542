"""The histories the graph's pictures are tested on (linear, branched, merged): how to build
each, its revisions and edges, and where a database mid-way is; and the service on one."""

from __future__ import annotations

from api import create_app
from tests.revision_graph import ALL, BASE, FEATURE, MAIN, MERGE, SECOND, TIP, MigrationsDir
from tests.revision_graph import standard_graph as merged_graph
from tests.tokens import authorized

L1, L2, L3 = "1111aaaa0001", "1111aaaa0002", "2222bbbb0003"
B_BASE, B_LEFT, B_RIGHT = "3333cccc0001", "4444dddd0002", "5555eeee0003"


def linear_graph(path):
    """Three revisions in a line."""
    migrations = MigrationsDir(path)
    migrations.add(L1, None, message="create account")
    migrations.add(L2, L1, message="create item")
    migrations.add(L3, L2, message="create audit")
    return migrations


def branched_graph(path):
    """Two heads from one branch point, not merged (yet)."""
    migrations = MigrationsDir(path)
    migrations.add(B_BASE, None, message="create account")
    migrations.add(B_LEFT, B_BASE, message="left", branch_labels=("left",))
    migrations.add(B_RIGHT, B_BASE, message="right")
    return migrations


# Each history: how to build it, its revisions, its edges (parent, child).
HISTORIES = {
    "linear": (linear_graph, [L1, L2, L3], {(L1, L2), (L2, L3)}),
    "branched": (branched_graph, [B_BASE, B_LEFT, B_RIGHT], {(B_BASE, B_LEFT), (B_BASE, B_RIGHT)}),
    "merged": (
        merged_graph,
        list(ALL),
        {(BASE, SECOND), (SECOND, FEATURE), (SECOND, MAIN), (MAIN, MERGE), (FEATURE, MERGE)},
    ),
}
HISTORIES["merged"][2].add((MERGE, TIP))


# Each history with its database mid-way: the revision it is upgraded to, and then the mark of
# each revision.
MID_WAY = {
    "linear": (L2, {L1: "applied", L2: "current", L3: "pending"}),
    "branched": (B_LEFT, {B_BASE: "applied", B_LEFT: "current", B_RIGHT: "pending"}),
    "merged": (
        MERGE,
        {
            BASE: "applied",
            SECOND: "applied",
            FEATURE: "applied",
            MAIN: "applied",
            MERGE: "current",
            TIP: "pending",
        },
    ),
}


def make_client(migrations, database_url, **config):
    """The service on ``migrations`` and ``database_url``: (app, client)."""
    app = create_app(
        {"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path), **config}
    )
    return app, authorized(app.test_client())
