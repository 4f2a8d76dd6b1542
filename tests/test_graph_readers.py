"""The graph read from the files' text agrees with Alembic's own load, on every shape:
generated linear and branched directories, the standard graph, random graphs with merges,
second roots, labels and dependencies; a missing parent refused alike. The forms a revision
file comes in: tests/test_graph_reader_forms.py."""

from __future__ import annotations

import random

import pytest
from alembic.script import ScriptDirectory
from alembic.util import to_tuple

from api import exceptions
from api.service import graph_cache
from api.service.revision_headers import scan
from bench.generate import generate
from tests.graph_agreement import assert_same, config_for, header_graph
from tests.revision_graph import standard_graph

pytestmark = pytest.mark.usefixtures("sqlite_only")


@pytest.mark.parametrize("shape", ["linear", "branched"])
def test_generated_directories(tmp_path, shape):
    generate(tmp_path / "m", 120, shape)
    assert_same(tmp_path / "m")


def test_the_standard_graph(migrations):
    assert_same(migrations.path)


@pytest.mark.parametrize("seed", range(24))
def test_random_graphs(tmp_path, seed):
    """Branches, merges of any two heads, second roots, labels and dependencies, with file
    names in random order (Alembic's walk depends on the order it loads the files)."""
    rng = random.Random(seed)
    m = standard_graph(tmp_path / "m")
    for f in (m.path / "versions").glob("*.py"):
        f.unlink()
    revs: list[str] = []
    heads: list[str] = []
    with_deps = seed % 3 == 0
    for n in range(40):
        rev = f"{rng.getrandbits(40):010x}"
        roll = rng.random()
        if not revs or roll < 0.04:
            down = None
        elif roll < 0.2 and len(heads) >= 2:
            down = tuple(rng.sample(heads, 2))
        else:
            down = rng.choice(heads if roll < 0.8 else revs)
        labels = (f"lbl{n}",) if rng.random() < 0.1 else None
        depends = rng.choice(revs) if with_deps and revs and rng.random() < 0.15 else None
        if depends is not None and down is not None and depends in to_tuple(down):
            depends = None
        m.add(rev, down, branch_labels=labels, depends_on=depends, message=f"step {n}")
        for parent in to_tuple(down, default=()):
            if parent in heads:
                heads.remove(parent)
        heads.append(rev)
        revs.append(rev)
    assert_same(m.path)


def test_a_missing_parent_is_refused_as_alembic_refuses_it(tmp_path, migrations):
    migrations.add("ffff00000007", "0000deadbeef")
    with (
        pytest.warns(UserWarning, match="not present"),
        pytest.raises(exceptions.MigrationsUnavailable),
    ):
        header_graph(migrations.path)
    with pytest.warns(UserWarning, match="not present"), pytest.raises(KeyError):
        ScriptDirectory.from_config(config_for(migrations.path)).revision_map.heads  # noqa: B018


def test_the_fingerprint_is_taken_before_each_file_is_read(tmp_path, migrations):
    """The scan's fingerprint equals a plain listing's, so the cache sees no change."""
    config = config_for(migrations.path)
    _headers, fingerprint = scan(config)
    assert fingerprint == graph_cache._fingerprint(config)
