"""Reads the pictures GET /revisions/graph draws back into nodes, edges and marks, checking
their syntax on the way: DOT and SVG through Graphviz itself, Mermaid by its grammar's rules."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pytest

from tests.conftest import IN_CI

SVG_NS = {"svg": "http://www.w3.org/2000/svg"}
# The fill api/graph_picture/dot.py gives each state.
FILL_STATES = {"#1b5e20": "current", "#c8e6c9": "applied", "#fff3e0": "pending"}
LEGEND_PREFIX = " legend "
# The node that stands for the revisions older than a ?limit picture shows.
OLDER = "older"


def require_dot() -> str:
    """Graphviz's dot: a test that needs it fails under CI=true (.ci/run installs it), skips
    elsewhere."""
    found = shutil.which("dot")
    if found is None:
        if IN_CI:
            pytest.fail("Graphviz's dot is missing under CI=true: .ci/run installs graphviz")
        pytest.skip("Graphviz's dot is not installed")
    return found


def dot_to_svg(dot_text: str) -> str:
    """Lay ``dot_text`` out with dot itself: it must parse without a warning."""
    proc = subprocess.run(
        [require_dot(), "-Tsvg"], input=dot_text.encode(), capture_output=True, timeout=60
    )
    assert proc.returncode == 0 and not proc.stderr, proc.stderr.decode()
    return proc.stdout.decode()


@dataclass
class Drawn:
    """A picture read back: revision -> its label lines and its state, and the edges."""

    labels: dict[str, list[str]]
    states: dict[str, str]
    edges: set[tuple[str, str]]
    legend: list[str]


def read_svg(svg: str) -> Drawn:
    """The nodes (by their <title>, the revision id), fills, texts and edges of dot's SVG; the
    SVG must be well-formed XML."""
    root = ET.fromstring(svg)
    labels, states, legend, edges = {}, {}, [], set()
    for group in root.iterfind(".//svg:g", SVG_NS):
        title = group.findtext("svg:title", namespaces=SVG_NS)
        texts = [t.text or "" for t in group.iterfind("svg:text", SVG_NS)]
        if group.get("class") == "graph":  # the graph's own label: the caption
            legend.append(" ".join(texts))
        elif group.get("class") == "node":
            if title == " " + OLDER:
                labels[OLDER] = texts
                continue
            if title.startswith(LEGEND_PREFIX):
                legend.append(" ".join(texts))
                continue
            labels[title] = texts
            fill = group.find("svg:*[@fill]", SVG_NS).get("fill")
            states[title] = FILL_STATES[fill]
        elif group.get("class") == "edge" and not title.startswith(LEGEND_PREFIX):
            parent, child = title.split("->")
            edges.add((parent.strip(), child))
    return Drawn(labels, states, edges, legend)


_NODE = re.compile(r'^  (r\d+|older)(\["|\(\["|\{\{")(.*?)("\]|"\]\)|"\}\})$')
_LEGEND_NODE = re.compile(r'^    (legend_\w+)(\["|\(\["|\{\{")(.*?)("\]|"\]\)|"\}\})$')
_EDGE = re.compile(r"^  (r\d+|older) (-->|-\.->) (r\d+)$")
_CLASS = re.compile(r"^  class ([\w,]+) (current|applied|pending)$")
_OPENERS = {'["': '"]', '(["': '"])', '{{"': '"}}'}


def read_mermaid(text: str, revisions: list[str]) -> Drawn:
    """The nodes, edges and classes of a Mermaid flowchart, refusing any line the writer does
    not make: a node whose label holds a bare quote, an edge to an undeclared node, a class
    naming an unknown node, an unbalanced subgraph. Nodes are keyed by the one revision of
    ``revisions`` their label's short id starts."""
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    ids: dict[str, list[str]] = {}
    legend, edges, states, depth = {}, set(), {}, 0
    for line in lines[1:]:
        if m := _NODE.match(line) or _LEGEND_NODE.match(line):
            node_id, opener, label, closer = m.groups()
            assert _OPENERS[opener] == closer, line
            # Only entities and line breaks: a bare quote would end the label early.
            assert not set(label.replace("<br>", "")) & set('"<>`'), line
            target = legend if node_id.startswith("legend_") else ids
            assert node_id not in target, f"{node_id} declared twice"
            target[node_id] = [unescape(part) for part in label.split("<br>")]
        elif m := _EDGE.match(line):
            parent, _, child = m.groups()
            assert parent in ids and child in ids, f"edge to an undeclared node: {line}"
            edges.add((parent, child))
        elif m := _CLASS.match(line):
            for member in m.group(1).split(","):
                assert member in ids or member in legend, f"class of an unknown node: {line}"
                states[member] = m.group(2)
        elif line == "  subgraph legend [Legend]":
            depth += 1
        elif line == "  end":
            depth -= 1
        elif not (line.startswith("  classDef ") or line == "    direction TB"):
            raise AssertionError(f"a line the writer does not make: {line!r}")
    assert depth == 0
    # Map Mermaid's ids back to revisions through the label's first word, the short id.
    rev = {i: OLDER if i == OLDER else _revision(ids[i][0].split(" ")[0], revisions) for i in ids}
    return Drawn(
        labels={rev[i]: ids[i] for i in ids},
        states={rev[i]: states[i] for i in ids if i != OLDER},
        edges={(rev[p], rev[c]) for p, c in edges},
        legend=[" ".join(lines) for lines in legend.values()],
    )


def _revision(short: str, revisions: list[str]) -> str:
    (found,) = [rev for rev in revisions if rev.startswith(short)]  # unique, or not a short id
    return found


def unescape(label: str) -> str:
    """A Mermaid label's text as shown: #name; and #123; are entities."""

    def entity(match: re.Match) -> str:
        name = match.group(1)
        return chr(int(name)) if name.isdigit() else html.unescape(f"&{name};")

    return re.sub(r"#(\w+);", entity, label)
