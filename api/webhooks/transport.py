"""One POST to a receiver: its status code, or what went wrong, never an exception."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request

# Enough of an answer to know it came whole; the body itself means nothing to us.
_READ_AT_MOST = 64 * 1024


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not 2xx: a moved receiver is fixed in its setting, and the
    signed body is never re-sent somewhere else (or turned into a GET)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int | None, str]:
    """POST ``body``; return (HTTP status, a short description). The status is None when no
    answer came (refused, timed out, cut). ``timeout`` bounds each wait on the socket."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=timeout) as answer:
            answer.read(_READ_AT_MOST)
            return answer.status, f"HTTP {answer.status}"
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, f"HTTP {exc.code} {exc.reason}".strip()
    except urllib.error.URLError as exc:
        return None, f"no answer: {exc.reason}"
    except (OSError, http.client.HTTPException) as exc:  # TimeoutError is an OSError
        return None, f"no answer: {type(exc).__name__}: {exc}".rstrip(": ")
