"""A real HTTP receiver for webhook tests: http.server in a thread on a free port, which
records what it gets and answers as told: a status per request, or never."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """``answers``: the status of each request in turn, then 200; ``"hang"`` never answers."""

    def __init__(self, answers: list[int | str] | None = None):
        self.answers = list(answers or [])
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Condition()
        self._released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.arrived:
                    receiver.received.append((dict(self.headers), body))
                    answer = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.arrived.notify_all()
                if answer == "hang":
                    receiver._released.wait(30)
                    return
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[dict[str, str], bytes]]:
        """The first ``count`` requests, once they have come."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(
                    f"{len(self.received)} of {count} webhooks came in {timeout} s"
                )
            return self.received[:count]

    def close(self) -> None:
        self._released.set()
        self.server.shutdown()
        self.server.server_close()
