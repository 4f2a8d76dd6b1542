"""ETags of the database's revision, and If-Match on the calls that change it."""

from __future__ import annotations

from flask import request

from api import exceptions


def etag(current: tuple[str, ...] | list[str]) -> str:
    """A strong ETag naming the database's revisions, so a person can read it too."""
    return '"' + ("+".join(sorted(current)) or "base") + '"'


def if_match() -> tuple[str, ...] | None:
    """The revisions an If-Match header expects, or None without one (empty, or ``*``).

    :raises InvalidRequest: a weak or malformed tag, or several tags.
    """
    value = request.headers.get("If-Match")
    if value is None or value.strip() in ("", "*"):
        return None
    tag = value.strip()
    if "," in tag or not (len(tag) >= 3 and tag[0] == tag[-1] == '"'):
        raise exceptions.InvalidRequest(
            'If-Match takes one strong ETag from GET /current, e.g. If-Match: "ab12cd34ef56".'
        )
    inner = tag[1:-1]
    return () if inner == "base" else tuple(inner.split("+"))
