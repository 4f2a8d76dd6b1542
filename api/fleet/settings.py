"""MIGRATEWAY_TARGETS / MIGRATEWAY_TARGETS_FILE: the named databases, checked before the
service starts."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_SHAPE = '{"name": "...", "url": "..."}'


@dataclass(frozen=True)
class Target:
    """One named database the migrations directory runs against."""

    name: str
    # Never shown whole: a URL may carry a password (repr hides it from tracebacks).
    url: str = field(repr=False)


def parse(raw: str | None, source: str) -> tuple[Target, ...]:
    """The targets a JSON list of ``{"name", "url"}`` names, in the list's order.

    :raises ValueError: one line naming ``source``, the entry and its fault; never a URL.
    """
    if raw is None or not raw.strip():
        return ()
    try:
        entries = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{source} is not JSON: {str(exc)[:120]}") from None
    if not isinstance(entries, list):
        raise ValueError(f"{source} must be a JSON list of {_SHAPE} objects")
    targets = tuple(_target(f"{source}[{i}]", entry) for i, entry in enumerate(entries))
    seen: set[str] = set()
    for i, target in enumerate(targets):
        if target.name in seen:
            raise ValueError(f"{source}[{i}]: the name {target.name!r} is given twice")
        seen.add(target.name)
    return targets


def _target(where: str, entry: object) -> Target:
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object {_SHAPE}")
    if "schema" in entry or "schemas" in entry:
        # Schema-per-tenant needs the version table and every statement in the tenant's
        # schema; until that is built, refusing beats migrating the wrong schema.
        raise ValueError(
            f"{where}: 'schema' and 'schemas' (schema per tenant) are not supported yet; "
            "give each target its own database URL"
        )
    unknown = sorted(set(entry) - {"name", "url"})
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown} (a target is {_SHAPE})")
    name, url = entry.get("name"), entry.get("url")
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(
            f"{where}: 'name' must match {NAME.pattern} (lower-case letters, digits, '_', '-')"
        )
    if not isinstance(url, str) or not url:
        raise ValueError(f"{where} ({name}): 'url' must be a database URL")
    try:
        make_url(url)
    except (ArgumentError, ValueError):
        raise ValueError(f"{where} ({name}): 'url' is not a database URL") from None
    return Target(name, url)


def load(inline: str | None, path: str | None) -> tuple[Target, ...]:
    """The targets of MIGRATEWAY_TARGETS and of the file MIGRATEWAY_TARGETS_FILE names.

    :raises ValueError: as :func:`parse`, or the file cannot be read; names stay unique
        across both.
    """
    targets = parse(inline, "MIGRATEWAY_TARGETS")
    if path:
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
        except OSError as exc:
            raise ValueError(f"MIGRATEWAY_TARGETS_FILE cannot be read: {exc.strerror}") from None
        from_file = parse(text, "MIGRATEWAY_TARGETS_FILE")
        names = {t.name for t in targets}
        for target in from_file:
            if target.name in names:
                raise ValueError(
                    f"MIGRATEWAY_TARGETS_FILE: the name {target.name!r} is also in "
                    "MIGRATEWAY_TARGETS"
                )
        targets += from_file
    return targets
