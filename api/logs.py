"""JSON log lines: one per request and one per revision, tied together by the request id."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, Response, g, has_app_context, has_request_context, request
from flask.logging import default_handler

log = logging.getLogger(__name__)

# An incoming X-Request-Id is kept only when it cannot forge or break a log line.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=\-]{1,128}$", re.ASCII)
# The fields a record may carry (through ``extra=``) that belong in the JSON line.
FIELDS = (
    "event",
    "method",
    "path",
    "status",
    "duration_ms",
    "request_id",
    "actor",
    "operation_id",
    "revision",
)


def request_id() -> str:
    """This request's id: a sane X-Request-Id from the caller, else a new one."""
    if "request_id" not in g:
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    return g.request_id


class JsonFormatter(logging.Formatter):
    """A record as one JSON object per line; inside a request it names the request and actor."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            # gunicorn runs several workers: which one wrote the line.
            "pid": record.process,
            "message": record.getMessage(),
        }
        if has_request_context():
            line["request_id"] = request_id()
            line["actor"] = g.get("actor")
        elif has_app_context():
            # A thread that carries on a request's work (Prefer: respond-async) may copy the
            # request's id and actor into its own g.
            line.update((k, g.get(k)) for k in ("request_id", "actor") if g.get(k))
        if has_app_context() and g.get("operation_id"):
            line["operation_id"] = g.operation_id
        for name in FIELDS:
            if name in record.__dict__:
                line[name] = record.__dict__[name]
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record comes (test runners swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass  # always sys.stderr, looked up per record


def _start() -> None:
    g.request_started = time.perf_counter()
    request_id()


def _finish(response: Response) -> Response:
    response.headers["X-Request-Id"] = request_id()
    started = g.get("request_started")
    duration = round((time.perf_counter() - started) * 1000, 3) if started else None
    # Only the method, path and status: never headers (Authorization) nor the query or body.
    log.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "event": "request",
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": duration,
        },
    )
    return response


def init_app(app: Flask) -> None:
    """Log every request as JSON on stderr through the ``api`` logger (gunicorn's own logs and
    the root logger are left alone), and echo the request id in ``X-Request-Id``."""
    logger = logging.getLogger("api")
    # app.logger is this same logger (the package is named "api"): Flask's plain-text handler
    # would print every line a second time.
    logger.removeHandler(default_handler)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    # First among the before_request functions: a request refused by auth is timed too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_finish)
