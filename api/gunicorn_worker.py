"""gunicorn's own refusals (a request it rejects before the app runs) as problem+json, not HTML."""

from __future__ import annotations

import json

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

from api.exceptions import HeaderFieldsTooLarge, InvalidRequest, Problem, UriTooLong
from api.problems import PROBLEM_MEDIA_TYPE, TYPE_PREFIX

# gunicorn's statuses named as the app names them; any other (403, 417, 501) after its reason.
_APP_PROBLEMS = {p.status: p for p in (Problem, InvalidRequest, UriTooLong, HeaderFieldsTooLarge)}


class _StatusLine:
    """Stands in for the client socket while gunicorn writes its HTML error, and keeps only
    the status line: gunicorn still chooses the status and logs the error as it always has."""

    line = b""

    def gettimeout(self) -> float:
        return 0.0  # non-blocking: gunicorn's util.write_nonblock then only calls sendall

    def sendall(self, data: bytes) -> None:
        self.line = data.partition(b"\r\n")[0]


class ProblemWorker(ThreadWorker):
    """gunicorn's threaded worker (what ``threads`` > 1 selects), answering its own errors
    (a control character in a header, a header or request line past gunicorn's limits, a
    request that is not HTTP) with the service's problem shape."""

    def handle_error(self, req, client, addr, exc):
        page = _StatusLine()
        super().handle_error(req, page, addr, exc)
        try:
            _, code, reason = page.line.decode("latin-1").split(" ", 2)
            status = int(code)
        except ValueError:  # nothing written: gunicorn could not make its page either
            status, reason = 500, "Internal Server Error"
        try:
            util.write_nonblock(client, _problem(status, reason, exc, req))
        except Exception:  # noqa: BLE001 - the client may be gone; gunicorn does the same
            self.log.debug("Failed to send error message.")


def _problem(status: int, reason: str, exc: BaseException, req) -> bytes:
    known = _APP_PROBLEMS.get(status)
    body = {
        "type": TYPE_PREFIX + (known.slug if known else reason.lower().replace(" ", "-")),
        "title": known.title if known else reason,
        "status": status,
        # gunicorn's one-line reason for a refusal; nothing of a server-side error.
        "detail": str(exc) if status < 500 else "The server failed; see its log.",
        "instance": getattr(req, "path", None),
    }
    payload = json.dumps(body).encode() + b"\n"
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: {PROBLEM_MEDIA_TYPE}\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode("latin-1") + payload
