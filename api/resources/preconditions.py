"""ETags of the database's revision, and If-Match on the calls that change it."""

from __future__ import annotations

from flask import request

from api import exceptions


def etag(current: tuple[str, ...] | list[str]) -> str:
    """A strong ETag naming the database's revisions, so a person can read it too."""
    return '"' + ("+".join(sorted(current)) or "base") + '"'


def expected_current(from_body: list[str] | None) -> tuple[str, ...] | None:
    """The revisions the caller expects the database at: If-Match (its format checked with
    the other headers, see parsing.write_headers) and/or the body's ``expected_current``.

    :raises PreconditionFailed: the two name different revisions.
    """
    tags = request.if_match  # parsed by Werkzeug; "*" or an empty header expects nothing
    from_header = None
    if tags and not tags.star_tag:
        (tag,) = tags.as_set()
        from_header = () if tag == "base" else tuple(tag.split("+"))
    from_body = tuple(from_body) if from_body is not None else None
    if from_header is not None and from_body is not None and set(from_header) != set(from_body):
        # The database cannot be at both: whichever it is at, one precondition fails.
        raise exceptions.PreconditionFailed(
            "If-Match and expected_current name different revisions; nothing was done.",
            expected=sorted(set(from_header) | set(from_body)),
        )
    return from_header if from_header is not None else from_body
