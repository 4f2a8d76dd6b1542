"""The revision graph as a picture: Graphviz DOT, SVG drawn by Graphviz, or Mermaid text.

Not Alembic code: it draws the plain data of api.service.graph_facts.
"""

from __future__ import annotations

from flask import Flask, current_app

from api.graph_picture import dot, mermaid, svg
from api.graph_picture.nodes import picture
from api.graph_picture.svg import SvgRenderer
from api.service.graph_facts import GraphFacts

# Each format and the media type its answer has, the default first.
FORMATS = {"dot": dot.MEDIA_TYPE, "svg": svg.MEDIA_TYPE, "mermaid": mermaid.MEDIA_TYPE}

__all__ = ["FORMATS", "SvgRenderer", "draw", "init_app", "renderer"]


def init_app(app: Flask) -> None:
    """Give the app its SVG renderer, set by GRAPHVIZ_DOT and GRAPHVIZ_TIMEOUT."""
    app.extensions["migrateway_svg"] = SvgRenderer(
        app.config["GRAPHVIZ_DOT"], app.config["GRAPHVIZ_TIMEOUT"]
    )


def renderer() -> SvgRenderer:
    """The current app's SVG renderer."""
    return current_app.extensions["migrateway_svg"]


def draw(facts: GraphFacts, fmt: str, svg_renderer: SvgRenderer, limit: int | None = None) -> bytes:
    """The picture of ``facts`` (its ``limit`` newest revisions) in ``fmt``, a key of FORMATS,
    encoded as UTF-8 text or SVG.

    :raises RendererUnavailable, RenderTimedOut: SVG only.
    """
    shown = picture(facts, limit)
    if fmt == "mermaid":
        return mermaid.mermaid_source(shown).encode()
    source = dot.dot_source(shown)
    if fmt == "svg":
        return svg_renderer.render(source)
    return source.encode()
