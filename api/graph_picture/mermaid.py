"""The revision graph as a Mermaid flowchart, which GitHub and GitLab draw in Markdown.

A flowchart, not a gitGraph: a gitGraph merges only named branches into each other, while
Alembic's merges join any revisions, and its depends_on has no gitGraph form at all.
"""

from __future__ import annotations

from api.graph_picture.nodes import APPLIED, CURRENT, PENDING, STATES, Node, Picture

MEDIA_TYPE = "text/plain"

_CLASS_STYLE = {
    CURRENT: "fill:#1b5e20,stroke:#1b5e20,color:#ffffff,stroke-width:3px",
    APPLIED: "fill:#c8e6c9,stroke:#2e7d32,color:#000000",
    PENDING: "fill:#fff3e0,stroke:#ef6c00,color:#000000,stroke-dasharray:5 3",
}
# Mermaid reads "#name;" and "#123;" as entities in labels; these characters would otherwise
# end the label ("), start an entity (#), be read as HTML (<, >, &) or as Markdown (`).
_ENTITIES = {"#": "#35;", '"': "#quot;", "&": "#amp;", "<": "#lt;", ">": "#gt;", "`": "#96;"}
_ENTITY_TABLE = str.maketrans(_ENTITIES)
_LINE_BREAK = "<br>"


def mermaid_source(picture: Picture) -> str:
    """The Mermaid text of ``picture``: a top-down flowchart with a legend."""
    ids: dict[str | None, str] = {node.revision: f"r{i}" for i, node in enumerate(picture.nodes)}
    lines = ["flowchart TD"]
    if picture.older:
        ids[None] = "older"
        lines.append(f'  older["{escaped(f"… {picture.older} older revisions")}"]')
    lines += (f"  {ids[node.revision]}{_shape(node, _node_label(node))}" for node in picture.nodes)
    for edge in picture.edges:
        arrow = "-.->" if edge.dependency else "-->"
        lines.append(f"  {ids[edge.parent]} {arrow} {ids[edge.child]}")
    lines += _legend(picture.caption)
    for state, style in _CLASS_STYLE.items():
        lines.append(f"  classDef {state} {style}")
    for state in _CLASS_STYLE:
        members = [ids[node.revision] for node in picture.nodes if node.state == state]
        members += [f"legend_{state}"]
        lines.append(f"  class {','.join(members)} {state}")
    return "\n".join(lines) + "\n"


def _node_label(node: Node) -> str:
    text = escaped(node.title)
    if node.message:
        text += _LINE_BREAK + escaped(node.message)
    return text


def _shape(node: Node, label: str) -> str:
    """Heads are stadiums and merges hexagons, as the legend says; the rest are boxes."""
    if node.is_head:
        return f'(["{label}"])'
    if node.is_merge:
        return f'{{{{"{label}"}}}}'
    return f'["{label}"]'


def _legend(caption: str) -> list[str]:
    lines = ["  subgraph legend [Legend]", "    direction TB"]
    lines.append(f'    legend_caption["{escaped(caption)}"]')
    for state, text in STATES.items():
        lines.append(f'    legend_{state}["{escaped(text)}"]')
    lines.append(f'    legend_head(["{escaped("head: no revision follows it")}"])')
    lines.append(f'    legend_merge{{{{"{escaped("merge: follows two or more")}"}}}}')
    lines.append(f'    legend_dependency["{escaped("dotted arrow: depends_on")}"]')
    lines.append("  end")
    return lines


def escaped(text: str) -> str:
    """``text`` safe inside a quoted Mermaid label, shown as written; line ends become breaks."""
    lines = text.translate(_ENTITY_TABLE).replace("\r\n", "\n").replace("\r", "\n")
    return lines.replace("\n", _LINE_BREAK)
