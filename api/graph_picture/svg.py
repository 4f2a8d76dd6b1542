"""The revision graph as SVG, laid out by Graphviz's ``dot`` within a time limit."""

from __future__ import annotations

import subprocess
import threading

from graphviz.backend import dot_command, execute

from api.exceptions import RendererUnavailable, RenderTimedOut

MEDIA_TYPE = "image/svg+xml"
INSTALL_HINT = (
    "Install Graphviz on the service's machine (Debian and Ubuntu: apt-get install graphviz), "
    "or point GRAPHVIZ_DOT at its dot program. ?format=dot and ?format=mermaid work without it."
)


class SvgRenderer:
    """Runs ``dot -Tsvg`` on DOT text; the last picture is kept, since most requests ask for
    the same one again (a graph changes when a revision is added or applied)."""

    def __init__(self, dot_binary: str = "dot", timeout: float = 10.0):
        self.dot_binary = dot_binary
        self.timeout = timeout
        self._lock = threading.Lock()
        self._last: tuple[str, bytes] | None = None

    def render(self, dot: str) -> bytes:
        """The SVG of ``dot``.

        :raises RendererUnavailable: the dot program cannot be run.
        :raises RenderTimedOut: it ran longer than the timeout (it is killed).
        """
        with self._lock:
            last = self._last
        if last is not None and last[0] == dot:
            return last[1]
        svg = self._run(dot.encode())
        with self._lock:
            self._last = (dot, svg)
        return svg

    def _run(self, source: bytes) -> bytes:
        # The graphviz package builds the command and runs it; the binary is ours to choose
        # per app (its DOT_BINARY is process-wide) and the timeout reaches subprocess.run.
        cmd = [self.dot_binary, *dot_command.command("dot", "svg")[1:]]
        try:
            proc = execute.run_check(
                cmd, input=source, capture_output=True, quiet=True, timeout=self.timeout
            )
        except (execute.ExecutableNotFound, PermissionError, NotADirectoryError):
            raise RendererUnavailable(
                f"Graphviz's dot program ({self.dot_binary}) cannot be run here. {INSTALL_HINT}",
                renderer=self.dot_binary,
            ) from None
        except subprocess.TimeoutExpired:
            raise RenderTimedOut(
                f"dot took longer than {self.timeout:g} seconds (GRAPHVIZ_TIMEOUT) and was "
                "stopped. Ask for ?format=dot and render it where time is not short.",
            ) from None
        return proc.stdout
