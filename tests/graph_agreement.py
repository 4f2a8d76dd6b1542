"""Reads a migrations directory both ways, from the files' headers without executing them
(api/service/revision_headers.py) and by Alembic's own import of every file, and asserts they agree
on everything the API serves: order, fields, heads, what is applied and pending from each
database state, and how symbols resolve."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import to_tuple

from api import exceptions
from api.service import graph_cache
from api.service.graph import RevisionGraph
from api.service.revision_infos import created_at


def config_for(directory: Path) -> Config:
    """An Alembic Config whose script_location is ``directory``."""
    config = Config()
    config.set_main_option("script_location", str(directory))
    return config


def header_graph(directory: Path) -> RevisionGraph:
    """The graph read from the files' headers, as the service's graph cache loads it."""
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
    """What the API shows of each revision, from the graph read from the headers."""
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
    """The directory read from its headers serves what Alembic's load of it serves."""
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
