"""The query of GET /revisions/graph."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.graph_picture import FORMATS
from api.schemas.fields import bounded
from api.schemas.revisions import MAX_LIMIT


class GraphQuery(Schema):
    format = fields.String(
        validate=validate.OneOf(list(FORMATS)),
        metadata={
            "description": "dot (text/vnd.graphviz), svg (image/svg+xml, drawn by Graphviz) or "
            "mermaid (text/plain, a flowchart GitHub and GitLab draw). Without it the Accept "
            "header chooses, and DOT is the default.",
        },
    )
    limit = bounded(
        fields.Integer,
        1,
        MAX_LIMIT,
        metadata={
            "description": "Draw only the newest this many revisions (default: all); one node "
            "stands for the older ones. GitHub draws a Mermaid chart of at most 500 arrows.",
        },
    )
