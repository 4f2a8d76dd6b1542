"""The graph read from the files' text agrees with Alembic's own load, on every shape.

Reads build the revision graph from the revision files' headers without executing them
(api/service/revision_headers.py); Alembic imports every file. Each test writes a directory,
reads it both ways and compares everything the API serves: order, fields, heads, what is applied and
pending from each database state, and how symbols resolve.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import to_tuple

from api import exceptions
from api.service import graph_cache
from api.service.graph import RevisionGraph
from api.service.revision_headers import NotPlain, read_header, scan
from api.service.revision_infos import created_at
from bench.generate import generate
from tests.revision_graph import standard_graph

pytestmark = pytest.mark.usefixtures("sqlite_only")


def config_for(directory: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(directory))
    return config


def header_graph(directory: Path) -> RevisionGraph:
    return graph_cache._load(config_for(directory), str(directory))[0]


def alembic_rows(script: ScriptDirectory, directory: Path) -> list[tuple]:
    """What the API shows of each revision, straight from Alembic's Script objects."""
    return [
        (
            s.revision,
            to_tuple(s.down_revision, default=()),
            tuple(sorted(s.branch_labels)),
            to_tuple(s.dependencies, default=()),
            s.doc or None,
            created_at(s.module.__doc__),
            os.path.relpath(s.path, directory),
            s.is_head,
            s.is_base,
            s.is_branch_point,
            s.is_merge_point,
        )
        for s in script.walk_revisions()
    ]


def header_rows(graph: RevisionGraph) -> list[tuple]:
    return [
        (
            i.revision,
            i.down_revisions,
            i.branch_labels,
            i.depends_on,
            i.message,
            i.created_at,
            i.path,
            i.is_head,
            i.is_base,
            i.is_branch_point,
            i.is_merge_point,
        )
        for i in graph.ordered
    ]


def database_states(script: ScriptDirectory) -> list[tuple[str, ...]]:
    """Every single revision, nothing, all heads, and each pair of heads."""
    revs = [s.revision for s in script.walk_revisions()]
    heads = tuple(script.get_heads())
    states = [(), heads, *((r,) for r in revs)]
    states += [(a, b) for a in heads for b in heads if a < b]
    return states


def assert_same(directory: Path) -> None:
    script = ScriptDirectory.from_config(config_for(directory))
    graph = header_graph(directory)
    assert header_rows(graph) == alembic_rows(script, directory)
    assert sorted(graph.heads) == sorted(script.get_heads())
    revmap = script.revision_map
    for state in database_states(script):
        expected_applied = {
            n.revision for n in revmap._get_ancestor_nodes(revmap.get_revisions(state))
        }
        assert graph.applied(state) == expected_applied, state
        try:
            expected = tuple(s.revision.revision for s in script._upgrade_revs("heads", state))
        except Exception as exc:  # Alembic refuses; the graph must refuse too, saying why
            with pytest.raises(exceptions.Problem) as refused:
                graph.pending(state)
            assert str(refused.value) == str(exc), state
        else:
            assert graph.pending(state) == expected, state
    idents = ["head", "base", *{s.revision[:4] for s in script.walk_revisions()}]
    idents += [f"{label}@head" for s in script.walk_revisions() for label in s.branch_labels]
    for ident in idents:
        try:
            found = script.get_revision(ident)
        except Exception:
            with pytest.raises(exceptions.Problem):
                graph.resolve(ident)
        else:
            if found is None:
                with pytest.raises(exceptions.UnknownRevision):
                    graph.resolve(ident)
            else:
                assert graph.resolve(ident).revision == found.revision


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


# The forms a revision file comes in: templates old and new, and files edited by hand.
FORMS = {
    "flask_migrate": '''"""add users

Revision ID: {rev}
Revises: {down}
Create Date: 2026-01-02 03:04:05.000006

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '{rev}'
down_revision = {down_repr}
branch_labels = None
depends_on = None


def upgrade():
    pass
''',
    "annotated": '''"""add users

Revision ID: {rev}
Revises: {down}
Create Date: 2026-01-02 03:04:05.000006

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = "{rev}"
down_revision: Union[str, Sequence[str], None] = {down_repr}
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    pass
''',
    "comments_first": """# -*- coding: utf-8 -*-
# a comment before the docstring
'''single-quoted docstring

Create Date: 2026-02-03 04:05:06
'''
revision = '{rev}'  # the id
down_revision = {down_repr}  # the parent
""",
    "no_docstring": """from alembic import op
revision = "{rev}"
down_revision = {down_repr}
""",
    "escaped_docstring": '''"""tab\\there

Create Date: 2026-02-03 04:05:06
"""
revision = '{rev}'
down_revision = {down_repr}
''',
    "raw_docstring": '''r"""raw \\d docstring"""
revision = '{rev}'
down_revision = {down_repr}
''',
    "multiline_tuple": '''"""multi-line"""
revision = '{rev}'
down_revision = (
    {down_repr},
)
branch_labels = ('multi',)
''',
    "mention_in_docstring": '''"""mentions
revision = 'not-this-one'
"""
revision = '{rev}'
down_revision = {down_repr}
''',
    "mention_in_body": '''"""a string below names another revision"""
revision = '{rev}'
down_revision = {down_repr}
SQL = """
revision = 'not-this-one'
"""
''',
    "concatenated": '''"""implicit concatenation"""
revision = '{rev}' ''
down_revision = {down_repr}
branch_labels = ['a_label']
''',
    "crlf": '"""windows\r\n\r\nCreate Date: 2026-03-04 05:06:07\r\n"""\r\n'
    "revision = '{rev}'\r\ndown_revision = {down_repr}\r\n",
    "computed": '''"""computed ids"""
PREFIX = "{rev}"[:5]
revision = PREFIX + "{rev}"[5:]
down_revision = {down_repr}
''',
    "no_down_revision_literal": '''"""down_revision set twice"""
revision = '{rev}'
down_revision = None
down_revision = {down_repr}
''',
    "indented_docstring": '''"""first line
    indented second line
"""
revision = '{rev}'
down_revision = {down_repr}
''',
}

PLAIN = {
    "flask_migrate",
    "annotated",
    "comments_first",
    "no_docstring",
    "mention_in_docstring",
    "concatenated",
    "crlf",
    *(() if sys.version_info >= (3, 13) else ("indented_docstring",)),
}


def write_forms(directory: Path) -> dict[str, tuple[str, Path]]:
    """One file of each form, in a line; form name -> (revision, path)."""
    (directory / "versions").mkdir(parents=True)
    down = None
    written = {}
    for index, (name, template) in enumerate(FORMS.items()):
        rev = f"{index:02d}{name.replace('_', '')[:6]}"
        text = template.format(rev=rev, down=down or "", down_repr=repr(down))
        if "def upgrade" not in text:
            text += "\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
        path = directory / "versions" / f"{rev}_{name}.py"
        path.write_bytes(text.encode())
        written[name] = (rev, path)
        down = rev
    return written


def test_every_form_of_file_reads_as_alembic_reads_it(tmp_path):
    m = standard_graph(tmp_path / "m")
    for f in (m.path / "versions").glob("*.py"):
        f.unlink()
    (m.path / "versions").rmdir()
    written = write_forms(m.path)
    assert_same(m.path)
    # The plain ones were read as text, the rest imported.
    for name, (rev, path) in written.items():
        if name in PLAIN:
            assert read_header(str(path)).revision == rev, name
        else:
            with pytest.raises(NotPlain):
                read_header(str(path))


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
