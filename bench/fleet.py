"""A fleet of SQLite tenant files for case 8: one migrations directory, tenants at mixed
revisions, a few missing and a few that are not databases at all."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

# Out of every 1,000 tenants: most at head, some behind (a deploy half done), a few whose file
# is missing (a tenant being created) or is not a database (a broken disk, a wrong path).
BEHIND_PER_MILLE = 120
MISSING_PER_MILLE = 10
BROKEN_PER_MILLE = 5


@dataclass
class Fleet:
    """What was made, and what GET /targets must therefore answer."""

    targets_file: Path
    names: list[str]
    paths: list[Path]
    behind: int  # reachable, not up to date (missing files count: they are at base)
    broken: int  # not a database: unreachable rows


def make(directory: Path, n: int, ids: list[str], oplog_template: Path | None) -> Fleet:
    """Write ``n`` tenants under ``directory`` and the MIGRATEWAY_TARGETS_FILE naming them.

    A tenant file holds only Alembic's version table (the matrix reads nothing else). Tenants
    at head get a copy of ``oplog_template``, the operation log a real POST /upgrade left, so
    their rows carry a last operation as a fleet the service migrated would.
    """
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(17)
    names, paths, behind, broken = [], [], 0, 0
    for i in range(n):
        name = f"tenant-{i:05d}"
        path = directory / f"{name}.sqlite"
        names.append(name)
        paths.append(path)
        draw = rng.randrange(1000)
        if draw < MISSING_PER_MILLE:
            behind += 1  # no file: a database at base, reachable
            continue
        draw -= MISSING_PER_MILLE
        if draw < BROKEN_PER_MILLE:
            path.write_bytes(b"this is not a SQLite database\n" * 64)
            broken += 1
            continue
        draw -= BROKEN_PER_MILLE
        if draw < BEHIND_PER_MILLE:
            _stamp(path, ids[rng.randrange(len(ids) - 1)])
            behind += 1
            continue
        _stamp(path, ids[-1])
        if oplog_template is not None:
            shutil.copyfile(oplog_template, f"{path}.operations.sqlite")
    targets = [{"name": nm, "url": f"sqlite:///{p}"} for nm, p in zip(names, paths, strict=True)]
    targets_file = directory / "targets.json"
    targets_file.write_text(json.dumps(targets))
    return Fleet(targets_file, names, paths, behind, broken)


def _stamp(path: Path, revision: str) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous = OFF")  # a benchmark's scratch files: no fsync
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
        conn.commit()
    finally:
        conn.close()


# The reference's loop: what a script that reads every tenant's version table in one Python
# process costs (no Alembic, no graph; the floor of any such listing).
READ_LOOP = """
import json, sqlite3, sys, time
start = time.perf_counter()
targets = json.load(open(sys.argv[1]))
behind = 0
for t in targets:
    path = t["url"][len("sqlite:///"):]
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
        finally:
            conn.close()
    except sqlite3.Error:
        rows = []
    behind += rows != [sys.argv[2]]
print(behind)
"""
