"""gunicorn settings for `gunicorn -c python:api.gunicorn_conf wsgi:app`."""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = 4
# A migration may run for minutes; gunicorn must not kill the worker running it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "600"))
accesslog = "-"


def when_ready(server):
    """Tell the person who started the service where to explore it."""
    host, _, port = bind.rpartition(":")
    server.log.info("Swagger UI: http://%s:%s/docs", host or "127.0.0.1", port)
