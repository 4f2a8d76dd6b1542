"""CELERY_BROKER_URL and CELERY_QUEUE: where rollouts' tasks go, checked before the service
(or a worker) starts."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# The brokers this service is tested with: Redis and RabbitMQ (py-amqp under both names).
SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")
# A queue name both brokers take and a shell passes unquoted.
QUEUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
DEFAULT_QUEUE = "migrateway"


def broker_url(raw: str | None) -> str | None:
    """The broker URL, or None (no Celery) when unset.

    :raises ValueError: one line naming the fault; never the URL, which may carry a password.
    """
    if raw is None or not raw.strip():
        return None
    scheme = urlsplit(raw.strip()).scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(
            "CELERY_BROKER_URL must be a Redis or RabbitMQ URL (redis://host:6379/0, "
            f"amqp://user:password@host:5672//), not a URL of scheme {scheme or 'none'!r}"
        )
    return raw.strip()


def queue(raw: str | None) -> str:
    """The queue rollout tasks are sent to and workers take them from.

    :raises ValueError: the name is not one both brokers take.
    """
    if raw is None or not raw.strip():
        return DEFAULT_QUEUE
    if not QUEUE.match(raw.strip()):
        raise ValueError(
            "CELERY_QUEUE must be 1-100 letters, digits, '_', '.', ':' or '-', "
            f"starting with a letter or digit, not {raw!r}"
        )
    return raw.strip()


def is_redis(url: str) -> bool:
    """Whether ``url`` names a Redis broker (its visibility timeout applies)."""
    return urlsplit(url).scheme.lower() in ("redis", "rediss")
