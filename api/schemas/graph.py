"""The query of GET /revisions/graph."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.graph_picture import FORMATS


class GraphQuery(Schema):
    format = fields.String(
        validate=validate.OneOf(list(FORMATS)),
        metadata={
            "description": "dot (text/vnd.graphviz), svg (image/svg+xml, drawn by Graphviz) or "
            "mermaid (text/plain, a flowchart GitHub and GitLab draw). Without it the Accept "
            "header chooses, and DOT is the default.",
        },
    )
