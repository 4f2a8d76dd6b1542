"""gunicorn settings for `gunicorn -c python:api.gunicorn_conf wsgi:app`."""

import os

from api import limits

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = 4
# gunicorn's threaded worker, whose own error answers are problem+json instead of HTML.
worker_class = "api.gunicorn_worker.ProblemWorker"
# A migration may run for minutes; gunicorn must not kill the worker running it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "600"))
# A stop (systemctl stop, a pod's SIGTERM) waits as long for the migrations running, in a request
# or Prefer: respond-async: gunicorn's 30 s would kill one mid-revision, which on a database
# without transactional DDL leaves it half-applied. The unit's or pod's stop timeout sits above.
graceful_timeout = timeout
# Above the app's limits (api/limits.py), which then answers what breaks them; past these,
# gunicorn refuses the request itself, as problem+json too (api/gunicorn_worker.py).
limit_request_line = limits.SERVER_REQUEST_LINE
limit_request_field_size = limits.SERVER_HEADER_FIELD_SIZE
limit_request_fields = limits.SERVER_HEADER_FIELDS
# No access log: the service writes one JSON line per request (api/logs.py), with the status,
# duration, request id and token name an access line would lack.
accesslog = None


def _forwarded_allow_ips() -> str | None:
    """TRUSTED_PROXIES as gunicorn writes networks, or None when unset or malformed (then
    on_starting stops the start in one line, instead of gunicorn's traceback here)."""
    from api.config import ConfigurationError, trusted_proxies

    try:
        networks = trusted_proxies(os.environ.get("TRUSTED_PROXIES"))
    except ConfigurationError:
        return None
    return ",".join(str(network) for network in networks) or None


# The proxies whose X-Forwarded-For names the client (api/proxies.py) are the ones whose
# X-Forwarded-Proto gunicorn believes too; unset, gunicorn's own default (FORWARDED_ALLOW_IPS).
_trusted = _forwarded_allow_ips()
if _trusted:
    forwarded_allow_ips = _trusted


def when_ready(server):
    """Tell the person who started the service where to explore it (at the address it listens
    on: a --bind flag overrides BIND)."""
    server.log.info("Swagger UI: %s/docs", _base_url(server))


def on_starting(server):
    """Refuse to start on a malformed token list, in one line. On the embedded default
    database with no token yet, create a local token with every scope and print it this
    once, so curl and Swagger UI's Authorize button work at once.

    Never when DATABASE_URL is set: a database someone named gets only the tokens they made.
    """
    import sys

    from api.config import PROJECT_ROOT, ConfigurationError, load_config
    from api.tokens import create_local_token, load

    try:
        # Here, once, before any worker: each worker would print its own traceback.
        config = load_config(os.environ, str(PROJECT_ROOT / "instance"))
        load(config)
        token = create_local_token(config)
    except ConfigurationError as err:
        sys.exit(f"Migrateway cannot start: {err}")
    if token is None:
        return
    url = _base_url(server)
    # Printed, not logged: it is shown once to the person at the terminal, and only its hash
    # is kept (in MIGRATEWAY_TOKENS_FILE).
    print(
        f"\nA local API token with every scope was created for the embedded database.\n"
        f"Only its hash is kept (in {config['MIGRATEWAY_TOKENS_FILE']}); it is shown this once:\n\n"
        f"    {token}\n\n"
        f"    curl -H 'Authorization: Bearer {token}' {url}/current\n"
        f"    Swagger UI: {url}/docs, button Authorize, value: Bearer {token}\n",
        file=sys.stdout,
        flush=True,
    )


def _base_url(server) -> str:
    """The address gunicorn listens on (its first bind), as a URL."""
    host, _, port = str(server.cfg.bind[0]).rpartition(":")
    return f"http://{host or '127.0.0.1'}:{port}"
