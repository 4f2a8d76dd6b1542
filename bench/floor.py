"""The floor for loading a migrations directory: every revision file's header read by regexes."""

from __future__ import annotations

import os
import re
import time

_REVISION = re.compile(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*=\s*(.+)$", re.MULTILINE)
_DOC = re.compile(r'^"""(.*?)$', re.MULTILINE)
_DATE = re.compile(r"^Create Date:\s*(.+?)\s*$", re.MULTILINE)
_IDS = re.compile(r"['\"]([^'\"]+)['\"]")


def read_headers(versions: str) -> dict[str, tuple]:
    """revision -> (down revisions, message, create date) for every .py file in ``versions``."""
    graph = {}
    with os.scandir(versions) as entries:
        for entry in entries:
            if not entry.name.endswith(".py"):
                continue
            with open(entry.path, encoding="utf-8") as f:
                text = f.read()
            rev = _REVISION.search(text)
            if rev is None:
                continue
            down = _DOWN.search(text)
            doc, date = _DOC.search(text), _DATE.search(text)
            graph[rev.group(1)] = (
                tuple(_IDS.findall(down.group(1))) if down else (),
                doc.group(1) if doc else None,
                date.group(1) if date else None,
            )
    return graph


def time_floor(versions: str, runs: int = 5) -> tuple[float, int]:
    """Median seconds of ``read_headers`` over ``runs`` runs, and how many revisions it found."""
    times, found = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        found = len(read_headers(versions))
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2], found
