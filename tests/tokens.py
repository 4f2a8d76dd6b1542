"""Test tokens: one with every scope (what the fixtures send), and narrower ones."""

from __future__ import annotations

import json

from api.tokens import SCOPES, entry

FULL = "mgw_test-token-with-every-scope"
READER = "mgw_test-token-read-only"
DEPLOYER = "mgw_test-token-read-upgrade"
NOTHING = "mgw_test-token-no-scope"

ENTRIES = [
    entry("tester", FULL, SCOPES),
    entry("reader", READER, ["read"]),
    entry("deployer", DEPLOYER, ["read", "upgrade"]),
    entry("nobody", NOTHING, []),
]
TOKENS_JSON = json.dumps(ENTRIES)


def bearer(token: str = FULL) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


def authorized(client, token: str = FULL):
    """Make a Flask test client send ``token`` with every request; return it."""
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client
