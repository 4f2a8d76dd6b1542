"""The Migrateway-Signature header, checked as Stripe's is: HMAC-SHA256 over "<t>.<body>"."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Migrateway-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header's value, ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``: the
    timestamp is signed with the body, so a receiver can refuse an old message replayed."""
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
