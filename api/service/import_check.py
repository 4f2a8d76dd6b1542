"""Whether env.py and the revision files can import what they import, without running them.

/ready may not run env.py (it would migrate) and reads never import the revision files, yet
both fail a write on a module the service's environment lacks. So their ``import`` statements
are read (env.py with ast, revision files with a regex: thousands of them) and each module is
looked up the way the import system would find it, without executing any of it. What
resolved once is remembered by the file's mtime and size: a probe polled every second costs
a stat per file. A failure is looked up again on every probe, so /ready turns 200 as soon as
the module appears.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import importlib.util
import os
import re
import sys
import threading
from dataclasses import dataclass

# "import a.b as c, d" / "from a.b import c" at the start of a line (relative imports skipped).
_IMPORT_LINE = re.compile(
    r"^[ \t]*(?:import[ \t]+([\w., \t]+)|from[ \t]+(\w[\w.]*)[ \t]+import)", re.M
)


@dataclass(frozen=True)
class ImportProblem:
    """A module a file imports that the service cannot find: safe to show anyone (the file
    is named relative to the project, the error is Python's one line)."""

    file: str
    line: int | None
    error: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}, line {self.line}"
        return f"{where}: {self.error}"


def env_imports(source: str) -> list[tuple[str, int]]:
    """Every absolute module env.py imports, with its line; imports guarded by ``try`` (an
    optional dependency) and under ``if TYPE_CHECKING`` are left out."""
    found: list[tuple[str, int]] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.extend((alias.name, node.lineno) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((node.module, node.lineno))
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
            elif isinstance(node, ast.Try | ast.ClassDef):
                continue
            elif isinstance(node, ast.stmt):
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(node, field, None) or [])

    visit(ast.parse(source).body)
    return found


def revision_imports(source: str) -> list[tuple[str, int]]:
    """The modules a revision file imports at the start of a line, with their lines."""
    found = []
    for match in _IMPORT_LINE.finditer(source):
        line = source.count("\n", 0, match.start()) + 1
        if match.group(2):
            found.append((match.group(2), line))
        else:
            for part in match.group(1).split(","):
                name = part.split()[0] if part.split() else ""
                if name:
                    found.append((name, line))
    return found


def missing(name: str) -> str | None:
    """Python's error for ``import name``, or None when it would be found. Nothing is
    executed: a submodule is looked for in its parent's directories, not by importing it."""
    if name in sys.modules:
        return None
    parts = name.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])
        for i in range(1, len(parts)):
            if spec is None:
                break
            qualified = ".".join(parts[: i + 1])
            if qualified in sys.modules:
                spec = sys.modules[qualified].__spec__
                continue
            if spec.submodule_search_locations is None:
                parent = ".".join(parts[:i])
                return (
                    f"ModuleNotFoundError: No module named '{qualified}'; "
                    f"'{parent}' is not a package"
                )
            spec = importlib.machinery.PathFinder.find_spec(
                qualified, spec.submodule_search_locations
            )
            if spec is None:
                return f"ModuleNotFoundError: No module named '{qualified}'"
    except (ImportError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if spec is not None else f"ModuleNotFoundError: No module named '{parts[0]}'"


class ImportCheck:
    """Remembers which files' imports resolved, by (mtime, size)."""

    def __init__(self) -> None:
        self._ok: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._failed = False
        # The graph whose revision files all resolved: while the graph cache serves the same
        # one, none of its files changed, and a probe stats env.py alone (at 10,000 revisions
        # a stat per file cost a warm /ready 29 ms instead of 0.3).
        self._graph_ok: object | None = None

    def problem(self, env_py: str | None, graph, name) -> ImportProblem | None:
        """The first module that env.py or a revision file of ``graph`` cannot import, or None.

        ``name`` turns a file's path into the name the answer may show.
        """
        with self._lock:
            if self._failed:
                importlib.invalidate_caches()  # a module may have appeared since
            files = [(env_py, env_imports)] if env_py else []
            if graph is not self._graph_ok:
                files += [(path, revision_imports) for path in graph.files()]
            for path, reader in files:
                found = self._check(path, reader, name)
                if found is not None:
                    self._failed = True
                    return found
            self._failed, self._graph_ok = False, graph
            return None

    def _check(self, path: str, reader, name) -> ImportProblem | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None  # gone: the graph's own load says so
        stamp = (st.st_mtime_ns, st.st_size)
        if self._ok.get(path) == stamp:
            return None
        try:
            with open(path, encoding="utf-8") as f:
                source = f.read()
            imports = reader(source)
        except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            return ImportProblem(name(path), line, f"{type(exc).__name__}: {exc}".splitlines()[0])
        for module, line in imports:
            error = missing(module)
            if error is not None:
                return ImportProblem(name(path), line, error)
        self._ok[path] = stamp
        return None
