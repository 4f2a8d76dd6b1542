"""MIGRATEWAY_TARGETS / MIGRATEWAY_TARGETS_FILE: the named databases, checked before the
service starts."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_SHAPE = '{"name": "...", "url": "..."} (and "schema": "...") or {"url": "...", "schemas": "..."}'
# PostgreSQL's identifiers are at most 63 bytes (longer ones are cut short, silently).
_MAX_SCHEMA = 63


@dataclass(frozen=True)
class Target:
    """One named database (or, with ``schema``, one PostgreSQL schema of it) the migrations
    directory runs against."""

    name: str
    # Never shown whole: a URL may carry a password (repr hides it from tracebacks).
    url: str = field(repr=False)
    schema: str | None = None


@dataclass(frozen=True)
class Discovery:
    """Every schema of a PostgreSQL database whose name is LIKE ``pattern``, each a target
    named after its schema, looked up again at each listing (api/fleet/discovery.py)."""

    pattern: str
    url: str = field(repr=False)


def parse(raw: str | None, source: str) -> tuple[Target | Discovery, ...]:
    """The targets a JSON list of ``{"name", "url"[, "schema"]}`` and ``{"url", "schemas"}``
    names, in the list's order.

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
        if isinstance(target, Discovery):
            continue
        if target.name in seen:
            raise ValueError(f"{source}[{i}]: the name {target.name!r} is given twice")
        seen.add(target.name)
    return targets


def _target(where: str, entry: object) -> Target | Discovery:
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object {_SHAPE}")
    if "schemas" in entry:
        return _discovery(where, entry)
    unknown = sorted(set(entry) - {"name", "url", "schema"})
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown} (a target is {_SHAPE})")
    name, url = entry.get("name"), entry.get("url")
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(
            f"{where}: 'name' must match {NAME.pattern} (lower-case letters, digits, '_', '-')"
        )
    _check_url(f"{where} ({name})", url)
    schema = entry.get("schema")
    if "schema" in entry:
        _check_postgresql(f"{where} ({name})", url, "'schema'")
        if not isinstance(schema, str) or not 0 < len(schema.encode()) <= _MAX_SCHEMA:
            raise ValueError(f"{where} ({name}): 'schema' must be a schema name of 1 to 63 bytes")
    return Target(name, url, schema)


def _discovery(where: str, entry: dict) -> Discovery:
    # No "name": each schema found is a target named after it, and the entry's own row
    # (when its database cannot be reached) is named after its pattern.
    unknown = sorted(set(entry) - {"url", "schemas"})
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown} (a discovery is {{'url', 'schemas'}})")
    url, pattern = entry.get("url"), entry.get("schemas")
    if not isinstance(pattern, str) or not pattern or len(pattern) > 200:
        raise ValueError(f"{where}: 'schemas' must be a SQL LIKE pattern, such as 'tenant_%'")
    _check_url(f"{where} ({pattern})", url)
    _check_postgresql(f"{where} ({pattern})", url, "'schemas'")
    return Discovery(pattern, url)


def _check_url(where: str, url: object) -> None:
    if not isinstance(url, str) or not url:
        raise ValueError(f"{where}: 'url' must be a database URL")
    try:
        make_url(url)
    except (ArgumentError, ValueError):
        raise ValueError(f"{where}: 'url' is not a database URL") from None


def _check_postgresql(where: str, url: str, key: str) -> None:
    # Schema per tenant is PostgreSQL's: elsewhere a schema is a database (give its URL).
    if make_url(url).get_backend_name() != "postgresql":
        raise ValueError(f"{where}: {key} needs a PostgreSQL URL (elsewhere, give each its URL)")


def load(inline: str | None, path: str | None) -> tuple[Target | Discovery, ...]:
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
        names = {t.name for t in targets if isinstance(t, Target)}
        for target in from_file:
            if isinstance(target, Target) and target.name in names:
                raise ValueError(
                    f"MIGRATEWAY_TARGETS_FILE: the name {target.name!r} is also in "
                    "MIGRATEWAY_TARGETS"
                )
        targets += from_file
    return targets
