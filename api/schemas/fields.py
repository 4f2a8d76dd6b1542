"""Fields shared by several schemas."""

from __future__ import annotations

import re

from marshmallow import ValidationError, fields, validate

# What Alembic accepts as a target: an id or prefix, a symbol (head, heads, base), a branch
# label with @, and a relative step (+2, -1, head-1, label@+1). Checked before Alembic sees it.
# Something must follow a label's "@": Alembic fails an assertion on "label@" (found by
# tests/test_fuzz.py). Matched whole (fullmatch): "$" alone would accept a trailing newline;
# the pattern keeps "^...$" so that, documented in the spec, it reads the same in ECMA 262.
REVISION_PATTERN = re.compile(
    r"^(?:[A-Za-z0-9_.\-]{1,64}@)?(?:[A-Za-z0-9_]{1,64}(?:[+-][0-9]{1,5})?|[+-][0-9]{1,5})$",
    re.ASCII,
)
REVISION_MAX_LENGTH = 128
# URL variables that name a revision (GET /revisions/<rev>): checked like a body's target
# (api.resources.parsing.path_revision) and documented so (api.openapi).
REVISION_PATH_ARGS = frozenset({"rev"})
# A revision id as the version table holds it and GET /current lists it. Not a symbol: the
# revisions a caller believes the database is at are compared as they are, so "head" would
# never match (it answered 412 at head); it is refused (400), and the spec says so.
REVISION_ID_PATTERN = re.compile(r"^(?!(?:head|heads|base)$)[A-Za-z0-9_]{1,64}$", re.ASCII)
REVISION_PATTERN_DOC = (
    "A revision id or unique prefix, 'head', 'heads', 'base', '<label>@head', "
    "or a relative step such as '+1', '-1', 'head-2'."
)


# The largest integer a request may carry (an offset, a count): a signed 32-bit integer, which
# every database takes in LIMIT and OFFSET. Past a signed 64-bit one, the driver overflowed (500).
MAX_INTEGER = 2**31 - 1


def bounded(kind: type[fields.Number], minimum, maximum=MAX_INTEGER, **kwargs) -> fields.Number:
    """A number a request carries, refused (400) outside [minimum, maximum]: every one has both
    bounds, which Swagger shows."""
    return kind(validate=validate.Range(min=minimum, max=maximum), **kwargs)


class _FullMatch(validate.Regexp):
    """``validate.Regexp`` that must match the whole string (apispec still documents it)."""

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def revision_constraints() -> dict:
    """The JSON Schema keywords of a revision target, for a parameter RESTX documents."""
    return {
        "minLength": 1,
        "maxLength": REVISION_MAX_LENGTH,
        "pattern": REVISION_PATTERN.pattern,
    }


def revision_target(**kwargs) -> fields.String:
    """A string that must look like an Alembic revision target."""
    return fields.String(
        validate=[
            validate.Length(min=1, max=REVISION_MAX_LENGTH),
            _FullMatch(REVISION_PATTERN, error="Not a revision target: {input}"),
        ],
        metadata={"description": REVISION_PATTERN_DOC, "example": kwargs.pop("example", "head")},
        **kwargs,
    )


def revision_id(**kwargs) -> fields.String:
    """A full revision id, as GET /current lists it; symbols, steps and labels are refused."""
    return fields.String(
        validate=_FullMatch(
            REVISION_ID_PATTERN,
            error="Not a revision id: {input}. Give the ids GET /current lists, not a symbol.",
        ),
        metadata={"description": "A revision id, as GET /current lists it."},
        **kwargs,
    )


PLAN_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$", re.ASCII)


def plan_id(**kwargs) -> fields.String:
    """A plan_id as POST /plan answers it (32 hexadecimal digits)."""
    return fields.String(
        validate=_FullMatch(PLAN_ID_PATTERN, error="Not a plan_id of POST /plan: {input}"),
        **kwargs,
    )


class ScriptDateTime(fields.DateTime):
    """A revision script's Create Date, ISO 8601 as Alembic wrote it.

    Alembic writes local time without an offset unless the directory sets a ``timezone``,
    so this is not RFC 3339's ``date-time``; api.openapi documents it as a plain string.
    """


class StrictBoolean(fields.Boolean):
    """A JSON true or false; "yes", 1 and 0 are refused, not guessed at (and 0 == False in a
    Python set, so marshmallow's truthy/falsy sets cannot say this)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def strict_boolean(**kwargs) -> fields.Boolean:
    """A field that takes only JSON true or false."""
    return StrictBoolean(**kwargs)


def revision_ids(description: str) -> fields.List:
    return fields.List(fields.String(), metadata={"description": description})
