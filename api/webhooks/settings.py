"""MIGRATEWAY_WEBHOOKS: the receivers of the events, checked before the service starts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

EVENTS = (
    "operation.succeeded",
    "operation.failed",
    "operation.interrupted",
    "operation.refused",
    "rollout.succeeded",
    "rollout.failed",
    "rollout.halted",
    "rollout.cancelled",
)
ALL = "*"
# Kept in the delivery log's unique index with the operation id: MariaDB caps an index's
# length at 3072 bytes, 4 per character.
MAX_URL_LENGTH = 512


@dataclass(frozen=True)
class Webhook:
    """One receiver: its URL, the events it wants, and the secret that signs what it gets."""

    url: str
    events: frozenset[str]
    # Never shown: not in repr (a traceback or a log line that prints a Webhook), nor anywhere
    # an answer is made from.
    secret: str = field(repr=False)

    def wants(self, event: str) -> bool:
        return ALL in self.events or event in self.events


def parse(raw: str | None) -> tuple[Webhook, ...]:
    """The webhooks a JSON list of ``{"url", "secret", "events"}`` names (``events``
    defaults to ``["*"]``).

    :raises ValueError: a line saying what is wrong and where; it never quotes a secret (nor
        any entry whole, which holds one).
    """
    if not raw or not raw.strip():
        return ()
    try:
        entries = json.loads(raw)
    except ValueError as exc:
        # The decoder's message gives a position, never the document.
        raise ValueError(f" is not JSON: {exc}") from None
    if not isinstance(entries, list):
        raise ValueError(' must be a JSON list of {"url", "secret", "events"} objects')
    hooks = tuple(_webhook(i, entry) for i, entry in enumerate(entries))
    urls = [hook.url for hook in hooks]
    for i, url in enumerate(urls):
        if url in urls[:i]:
            raise ValueError(f"[{i}]: the url is given twice (one entry per receiver)")
    return hooks


def _webhook(i: int, entry: object) -> Webhook:
    where = f"[{i}]"
    if not isinstance(entry, dict):
        raise ValueError(f'{where} must be an object {{"url", "secret", "events"}}')
    unknown = sorted(set(entry) - {"url", "secret", "events"})
    if unknown:
        # Key names only: a misspelt key may still hold the secret.
        raise ValueError(f"{where} has unknown keys {unknown}; the keys are url, secret, events")
    url = entry.get("url")
    if not isinstance(url, str) or not _is_http_url(url):
        raise ValueError(f"{where}: url must be an http:// or https:// URL")
    if urlsplit(url).username is not None:
        # /webhooks/deliveries shows the url to every reader: the secret is what authenticates.
        raise ValueError(f"{where}: url must not carry credentials (user:password@)")
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"{where}: url is longer than {MAX_URL_LENGTH} characters")
    secret = entry.get("secret")
    if not isinstance(secret, str) or not secret.strip():
        raise ValueError(f"{where}: secret must be a non-empty string")
    events = entry.get("events", [ALL])
    if (
        not isinstance(events, list)
        or not events
        or not all(isinstance(e, str) and (e == ALL or e in EVENTS) for e in events)
    ):
        raise ValueError(
            f"{where}: events must be a non-empty list of {', '.join(EVENTS)} or {ALL!r}"
        )
    return Webhook(url=url, events=frozenset(events), secret=secret)


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and url == url.strip()
