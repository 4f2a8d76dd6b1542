"""revision_order walks a plain graph as Alembic 1.20's RevisionMap._topological_sort does.

Graphs are generated in memory (no files): random forks, merges and several heads, and the
shapes bench/generate.py writes. Each is ordered both ways and compared, with its heads.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
from alembic.script.revision import Revision, RevisionMap

from api.service.revision_order import plain_order

pytestmark = pytest.mark.usefixtures("sqlite_only")


def header(rev, down=None, depends_on=None):
    return SimpleNamespace(revision=rev, down_revision=down, depends_on=depends_on)


def alembic_walk(headers) -> tuple[list[str], tuple[str, ...]]:
    revisions = [Revision(h.revision, h.down_revision) for h in headers]
    revmap = RevisionMap(lambda: revisions)
    order = [r.revision for r in revmap.iterate_revisions("heads", "base")]
    return order, tuple(revmap.heads)


def random_graph(seed: int, size: int) -> list[SimpleNamespace]:
    """Revisions whose parents are earlier ones: forks, merges of two or three, several bases
    and heads; listed in a shuffled order, as files load in name order, not history order."""
    rng = random.Random(seed)
    ids = [f"{i:04x}{rng.getrandbits(32):08x}" for i in range(size)]
    headers = []
    for i, rev in enumerate(ids):
        roll = rng.random()
        if i == 0 or roll < 0.05:
            down = None
        elif roll < 0.2 and i >= 3:
            down = tuple(rng.sample(ids[:i], rng.choice((2, 3))))
        else:
            down = ids[rng.randrange(max(0, i - 4), i)]  # mostly near the tip: long lines
        headers.append(header(rev, down))
    rng.shuffle(headers)
    return headers


@pytest.mark.parametrize("seed", range(40))
def test_random_graphs_walk_as_alembic_walks(seed):
    headers = random_graph(seed, size=random.Random(seed).randrange(2, 120))
    plain = plain_order(headers)
    assert plain is not None
    assert (plain.order, plain.heads) == alembic_walk(headers)


def test_a_long_line_and_a_braided_graph_walk_as_alembic_walks():
    line = [header(f"{i:012x}", f"{i - 1:012x}" if i else None) for i in range(3000)]
    braided = []  # a main line with two-way forks joined by merges, as bench/generate.py writes
    tip = None
    for fork in range(100):
        left = right = tip
        for step in range(3):
            braided.append(header(f"{fork:04x}a{step:07x}", left))
            braided.append(header(f"{fork:04x}b{step:07x}", right))
            left, right = f"{fork:04x}a{step:07x}", f"{fork:04x}b{step:07x}"
        tip = f"{fork:04x}m0000000"
        braided.append(header(tip, (left, right)))
    for headers in (line, braided):
        plain = plain_order(headers)
        assert (plain.order, plain.heads) == alembic_walk(headers)


@pytest.mark.parametrize(
    "headers",
    [
        [header("a1"), header("b2", "a1", depends_on="a1")],  # depends_on: Alembic's map
        [header("a1"), header("b2", "zz")],  # a missing parent
        [header("a1", "b2"), header("b2", "a1")],  # a cycle
        [header("a1"), header("a1")],  # a repeated id
        [header("a1"), header("b2", ("a1", "a1"))],  # a parent named twice
        [header("a1", "a1")],  # its own parent
        [header("a1"), header("b@2", "a1")],  # a character Alembic refuses in an id
    ],
    ids=["depends_on", "missing", "cycle", "repeated", "twice", "self", "illegal"],
)
def test_a_graph_that_is_not_plain_is_left_to_alembic(headers):
    assert plain_order(headers) is None
