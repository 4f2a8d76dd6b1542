"""Who may call what: every request's bearer token and its scope, checked before the view."""

from __future__ import annotations

import hmac
import re

from flask import Flask, current_app, g, request

from api import exceptions, tokens
from api.fleet.scope import unscoped_rule

# Readable without a token, so a person can explore the API (and find /health) first, and a
# load balancer can probe /ready (whose answer names no URL and no revision). The status page
# (/ and its files) holds no data: its script reads the API with the token the person types.
PUBLIC_RULES = frozenset(
    {
        "/health",
        "/ready",
        "/docs",
        "/swagger.json",
        "/swaggerui/<path:filename>",
        "/",
        "/status-page/<path:filename>",
    }
)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Any other method needs the scope named here. A rule missing from this map is refused to
# every token: a new endpoint that changes something stays closed until it is added.
WRITE_SCOPES = {
    ("POST", "/upgrade"): "upgrade",
    ("POST", "/downgrade"): "downgrade",
    ("POST", "/stamp"): "stamp",
    # Like a stamp, it tells the service what to take as applied.
    ("POST", "/verify/accept"): "stamp",
    # A plan changes nothing: it is a read, sent as a POST for its body.
    ("POST", "/plan"): "read",
    # A rollout needs the scope of its action, known once the body (or the rollout) is read.
    ("POST", "/rollouts"): "action",
    ("POST", "/rollouts/<string:rollout_id>/resume"): "action",
    ("POST", "/rollouts/<string:rollout_id>/cancel"): "action",
}
ACTIONS = ("upgrade", "downgrade")
# Swagger 2.0 has no bearer scheme: an apiKey in the Authorization header is the usual way,
# and Swagger UI's Authorize button then sends what the person types.
SWAGGER_AUTHORIZATIONS = {
    "bearer": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Type 'Bearer <token>'. Scopes: read (every GET), upgrade, downgrade, "
        "stamp (the POST of that name). New token: `flask --app wsgi tokens create`.",
    }
}
CREATE_COMMAND = "flask --app wsgi tokens create --name <name> --scopes read,upgrade"
# RFC 6750: the scheme is case-insensitive, the token is a b64token.
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9\-._~+/]{1,512}=*) *$", re.ASCII | re.IGNORECASE)


def required_scope(method: str, rule: str) -> str | None:
    """The scope a call on a routed URL needs; None when no scope allows it."""
    if method in READ_METHODS:
        return "read"
    # /targets/<target>/upgrade needs what /upgrade needs.
    return WRITE_SCOPES.get((method, unscoped_rule(rule)))


def authenticate(header: str | None, known: tuple[tokens.Token, ...]) -> tokens.Token:
    """The configured token the Authorization header carries.

    The header is never echoed: a problem says what is wrong, not what was sent.

    :raises Unauthorized:
    """
    if not known:
        raise exceptions.Unauthorized(
            f"No API tokens are configured, so every call is refused. Run `{CREATE_COMMAND}`, "
            "add the entry it prints to MIGRATEWAY_TOKENS or MIGRATEWAY_TOKENS_FILE, and restart."
        )
    if not header:
        raise exceptions.Unauthorized("Send the header 'Authorization: Bearer <token>'.")
    match = _BEARER.match(header)
    if not match:
        hint = " (Swagger UI's Authorize box too)" if header.startswith(tokens.PREFIX) else ""
        raise exceptions.Unauthorized(
            f"The Authorization header must be 'Bearer <token>'{hint}.", error="invalid_request"
        )
    digest = tokens.hash_token(match.group(1))
    found = None
    # Compare with every entry, in constant time: how long it takes says nothing of a match.
    for token in known:
        if hmac.compare_digest(digest, token.sha256):
            found = token
    if found is None:
        raise exceptions.Unauthorized("The bearer token is not known.", error="invalid_token")
    return found


def check_request() -> None:
    """Refuse the request unless its token has the scope; note the token's name as the actor.

    :raises Unauthorized, Forbidden:
    """
    # One lookup of each context-bound object: every use of a proxy pays for a lookup.
    req = request._get_current_object()
    url_rule = req.url_rule
    rule = url_rule.rule if url_rule is not None else None
    if rule in PUBLIC_RULES:
        return
    token = authenticate(
        req.environ.get("HTTP_AUTHORIZATION"), current_app.extensions["migrateway_tokens"]
    )
    g.actor = token.name
    if rule is None:
        return  # routing answers 404 or 405, and only to a caller who showed a token
    method = req.method
    scope = required_scope(method, rule)
    if scope is None:
        raise exceptions.Forbidden(f"No scope allows {method} {rule}.")
    g.scopes = token.scopes
    if scope == "action":  # the resource calls require() with the action's scope
        if not set(ACTIONS) & set(token.scopes):
            raise exceptions.Forbidden(
                f"{method} {rule} needs the 'upgrade' or 'downgrade' scope (the action's), "
                f"which token '{token.name}' does not have.",
                missing_scope="upgrade",
            )
        return
    if scope not in token.scopes:
        raise exceptions.Forbidden(
            f"{method} {rule} needs the '{scope}' scope, which token '{token.name}' does not have.",
            missing_scope=scope,
        )


def require(scope: str) -> None:
    """Refuse the request unless its token has ``scope`` (where the scope depends on what the
    body asks: a rollout's action).

    :raises Forbidden:
    """
    if scope not in g.get("scopes", ()):
        raise exceptions.Forbidden(
            f"This {scope} needs the '{scope}' scope, which token '{g.get('actor')}' "
            "does not have.",
            missing_scope=scope,
        )


def init_app(app: Flask) -> None:
    """Load the token list once and guard every request; add ``flask tokens create``.

    :raises ConfigurationError: the token list is malformed (the service does not start).
    """
    app.extensions["migrateway_tokens"] = tokens.load(app.config)
    app.before_request(check_request)
    tokens.init_cli(app)
