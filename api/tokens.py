"""The token list: names, SHA-256 hashes and scopes from the config; new tokens; the local one."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import click

from api.config import ConfigurationError

SCOPES = ("read", "upgrade", "downgrade", "stamp")
# The name is recorded as the actor of every operation: keep it printable and short.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@\-]{1,64}$", re.ASCII)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# A prefix makes a leaked token recognisable to secret scanners and to a person.
PREFIX = "mgw_"
LOCAL_NAME = "local"


@dataclass(frozen=True)
class Token:
    """One configured token: who it is, the hash of its secret, what it may do."""

    name: str
    sha256: str
    scopes: frozenset[str]


def hash_token(secret: str) -> str:
    """The hex SHA-256 of a token, as stored in the token list."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits), never stored in plain text."""
    return PREFIX + secrets.token_urlsafe(32)


def entry(name: str, secret: str, scopes: Iterable[str]) -> dict:
    """The token-list entry for ``secret``: what goes into MIGRATEWAY_TOKENS(_FILE)."""
    return {"name": name, "sha256": hash_token(secret), "scopes": sorted(set(scopes))}


def parse(raw, source: str) -> list[Token]:
    """Validate a token list (JSON text or already decoded); a typo fails loudly at start.

    :raises ConfigurationError: naming ``source`` and the faulty entry.
    """
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except ValueError as err:
            raise ConfigurationError(f"{source} is not valid JSON: {err}") from None
        except RecursionError:
            raise ConfigurationError(f"{source} is nested too deeply to be parsed") from None
    if not isinstance(raw, list):
        raise ConfigurationError(f"{source} must be a JSON list of {{name, sha256, scopes}}")
    tokens = []
    for i, item in enumerate(raw):
        where = f"{source}[{i}]"
        if not isinstance(item, dict) or set(item) != {"name", "sha256", "scopes"}:
            raise ConfigurationError(f"{where} must have exactly the keys name, sha256, scopes")
        name, digest, scopes = item["name"], item["sha256"], item["scopes"]
        # fullmatch: "$" alone would take a name with a trailing newline.
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise ConfigurationError(f"{where}: name must match {NAME_PATTERN.pattern}")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise ConfigurationError(f"{where}: sha256 must be 64 lowercase hex digits")
        # Membership, not set(scopes): a list inside the list is unhashable (a TypeError).
        if not isinstance(scopes, list) or not all(scope in SCOPES for scope in scopes):
            raise ConfigurationError(
                f"{where}: scopes must be a list drawn from {', '.join(SCOPES)}"
            )
        tokens.append(Token(name, digest, frozenset(scopes)))
    return tokens


def load(config: Mapping) -> tuple[Token, ...]:
    """Every token the config names: MIGRATEWAY_TOKENS, then MIGRATEWAY_TOKENS_FILE.

    A tokens file that does not exist yet means no tokens from it (every call then answers
    401 saying how to create one); one that exists must be valid.

    :raises ConfigurationError:
    """
    tokens = []
    if config.get("MIGRATEWAY_TOKENS"):
        tokens += parse(config["MIGRATEWAY_TOKENS"], "MIGRATEWAY_TOKENS")
    path = config.get("MIGRATEWAY_TOKENS_FILE")
    if path and os.path.exists(path):
        source = f"MIGRATEWAY_TOKENS_FILE {path}"
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as err:
            raise ConfigurationError(f"{source} cannot be read: {err.strerror}") from None
        tokens += parse(raw, source)
    names = [t.name for t in tokens]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigurationError(
            "MIGRATEWAY_TOKENS and MIGRATEWAY_TOKENS_FILE: token names must be unique: "
            + ", ".join(duplicates)
        )
    return tuple(tokens)


def create_local_token(config: Mapping) -> str | None:
    """On the embedded default database with no token configured, write a token with every
    scope to the tokens file (its hash only) and return it, once; otherwise None.

    Never for a DATABASE_URL someone gave: that database may matter.
    """
    path = config.get("MIGRATEWAY_TOKENS_FILE")
    if not config.get("CREATE_LOCAL_TOKEN") or not path or load(config):
        return None
    secret = new_token()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    # O_EXCL: of two services started at once, one writes and prints; an existing file,
    # even an empty list, is the operator's and is never overwritten.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    with os.fdopen(fd, "w") as f:
        json.dump([entry(LOCAL_NAME, secret, SCOPES)], f, indent=2)
        f.write("\n")
    return secret


def init_cli(app) -> None:
    """Add ``flask tokens create``, which prints a new token once and its list entry."""

    @app.cli.group("tokens")
    def tokens_cli():
        """Bearer tokens for the API."""

    @tokens_cli.command("create")
    @click.option("--name", required=True, help="Recorded as the actor of what the token does.")
    @click.option(
        "--scopes",
        default="read",
        show_default=True,
        help=f"Comma-separated, from: {', '.join(SCOPES)}.",
    )
    def create(name: str, scopes: str):
        """Print a new random token once, with the entry to add to the token list."""
        wanted = [s.strip() for s in scopes.split(",") if s.strip()]
        if not NAME_PATTERN.match(name):
            raise click.BadParameter(f"must match {NAME_PATTERN.pattern}", param_hint="--name")
        unknown = sorted(set(wanted) - set(SCOPES))
        if unknown or not wanted:
            raise click.BadParameter(
                f"choose from {', '.join(SCOPES)} (got {scopes!r})", param_hint="--scopes"
            )
        secret = new_token()
        click.echo(f"Token for {name!r} (shown this once; it is not stored):\n\n    {secret}\n")
        click.echo(
            "Add this entry to the JSON list in MIGRATEWAY_TOKENS or MIGRATEWAY_TOKENS_FILE "
            "and restart the service:\n"
        )
        click.echo("    " + json.dumps(entry(name, secret, wanted)))
        click.echo(f"\nThen call it with:  curl -H 'Authorization: Bearer {secret}' ...")
