"""Fields shared by several schemas."""

from __future__ import annotations

import re

from marshmallow import fields, validate

# What Alembic accepts as a target: an id or prefix, a symbol (head, heads, base), a branch
# label with @, and a relative step (+2, -1, head-1, label@+1). Checked before Alembic sees it.
REVISION_PATTERN = re.compile(
    r"^(?:[A-Za-z0-9_.\-]{1,64}@)?(?:[A-Za-z0-9_]{1,64})?(?:[+-][0-9]{1,5})?$", re.ASCII
)
REVISION_PATTERN_DOC = (
    "A revision id or unique prefix, 'head', 'heads', 'base', '<label>@head', "
    "or a relative step such as '+1', '-1', 'head-2'."
)


def revision_target(**kwargs) -> fields.String:
    """A string that must look like an Alembic revision target."""
    return fields.String(
        validate=[
            validate.Length(min=1, max=128),
            validate.Regexp(REVISION_PATTERN, error="Not a revision target: {input}"),
        ],
        metadata={"description": REVISION_PATTERN_DOC, "example": kwargs.pop("example", "head")},
        **kwargs,
    )


def strict_boolean(**kwargs) -> fields.Boolean:
    """A JSON true or false; strings such as "yes" or 1 are refused, not guessed at."""
    return fields.Boolean(truthy={True}, falsy={False}, **kwargs)


def revision_ids(description: str) -> fields.List:
    return fields.List(fields.String(), metadata={"description": description})
