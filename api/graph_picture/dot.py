"""The revision graph in Graphviz's DOT language (text/vnd.graphviz)."""

from __future__ import annotations

from api.graph_picture.nodes import APPLIED, CURRENT, PENDING, STATES, Node, Picture

MEDIA_TYPE = "text/vnd.graphviz"

# Fill, border and text colour of each state; pending ones also get a dashed border.
_STATE_STYLE = {
    CURRENT: 'fillcolor="#1b5e20", color="#1b5e20", fontcolor="white", penwidth=2',
    APPLIED: 'fillcolor="#c8e6c9", color="#2e7d32"',
    PENDING: 'fillcolor="#fff3e0", color="#ef6c00", style="rounded,filled,dashed"',
}
_HEAD = "peripheries=2"
_MERGE = "shape=hexagon"
# Legend node ids start with a space: no revision id does, so none can be mistaken for one.
_LEGEND = " legend "
_OLDER = " older"


def dot_source(picture: Picture) -> str:
    """The DOT text of ``picture``: base at the top, heads at the bottom, with a legend."""
    lines = [
        "digraph revisions {",
        f"  label={quoted(picture.caption)}; labelloc=t; fontname=Helvetica; rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fontname=Helvetica, fontsize=11];',
        '  edge [color="#555555"];',
    ]
    if picture.older:
        label = f"… {picture.older} older revisions"
        lines.append(f'  {quoted(_OLDER)} [label={quoted(label)}, shape=plaintext, style=""];')
    lines += (_node_line(node) for node in picture.nodes)
    for edge in picture.edges:
        style = " [style=dashed, arrowhead=empty]" if edge.dependency else ""
        parent = _OLDER if edge.parent is None else edge.parent
        lines.append(f"  {quoted(parent)} -> {quoted(edge.child)}{style};")
    lines += _legend()
    lines.append("}")
    return "\n".join(lines) + "\n"


def _node_line(node: Node) -> str:
    label = node.title + ("\n" + node.message if node.message else "")
    attrs = [f"label={quoted(label)}", _STATE_STYLE[node.state]]
    if node.is_head:
        attrs.append(_HEAD)
    if node.is_merge:
        attrs.append(_MERGE)
    return f"  {quoted(node.revision)} [{', '.join(attrs)}];"


def _legend() -> list[str]:
    samples = [(state, text, _STATE_STYLE[state]) for state, text in STATES.items()]
    samples += [
        ("head", "head: no revision follows it", f'fillcolor="white", {_HEAD}'),
        ("merge", "merge: follows two or more", f'fillcolor="white", {_MERGE}'),
        ("dependency", "dashed arrow: depends_on", 'fillcolor="white"'),
    ]
    lines = ["  subgraph cluster_legend {", '    label="Legend"; color="#999999";']
    for name, text, style in samples:
        lines.append(f"    {quoted(_LEGEND + name)} [label={quoted(text)}, {style}];")
    # Invisible edges stack the samples in a column instead of a row.
    for (upper, *_), (lower, *_) in zip(samples, samples[1:], strict=False):
        lines.append(f"    {quoted(_LEGEND + upper)} -> {quoted(_LEGEND + lower)} [style=invis];")
    lines.append("  }")
    return lines


def quoted(text: str) -> str:
    """``text`` as a DOT quoted string that shows exactly ``text``.

    Backslashes and quotes are escaped, line ends become DOT's centred line break, and ``&``
    becomes ``&amp;`` because Graphviz reads HTML entities in every label (a message saying
    ``&lt;`` would otherwise show ``<``). ``<`` and ``>`` need nothing inside quotes.
    """
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("&", "&amp;")
        .replace("\r\n", "\n")
        .replace("\r", "\n")
        .replace("\n", "\\n")
    )
    return f'"{escaped}"'
