"""The README's pipeline recipes, run exactly as written against a live gunicorn server."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from api.config import PROJECT_ROOT
from api.service.graph_cache import GraphCache
from tests.audited_rollouts import FAIL, R2, R3, audited, audited_directory
from tests.databases import tables, version_rows
from tests.revision_graph import ALL, MERGE, TIP, upgrade_order
from tests.servers import Gunicorn
from tests.tokens import FULL, READER

pytestmark = pytest.mark.usefixtures("sqlite_only")

RECIPE = re.compile(r"<!-- recipe: (\S+) -->\n```sh\n(.*?)```", re.DOTALL)


def recipes() -> dict[str, str]:
    return dict(RECIPE.findall((PROJECT_ROOT / "README.md").read_text()))


def run(name: str, server, token: str = FULL, build_id: str = "7") -> tuple[int, str]:
    """Run one recipe with bash, as a pipeline step would; return its exit code and output."""
    done = subprocess.run(
        ["bash", "-c", recipes()[name]],
        env={
            "PATH": "/usr/bin:/bin",
            "MIGRATEWAY": server.url,
            "TOKEN": token,
            "BUILD_ID": build_id,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def test_the_readme_has_every_recipe():
    assert set(recipes()) == {
        "status",
        "dry-run",
        "upgrade",
        "rollback",
        "operations",
        "async",
        "rollout",
    }


def test_the_pipeline_recipes_do_what_the_readme_says(live_server, database_url, migrations):
    code, out = run("status", live_server)
    assert code == 0, out
    assert json.loads(out) == {
        "current": [],
        "pending": upgrade_order(migrations.path),
        "up_to_date": False,
    }
    assert sorted(json.loads(out)["pending"]) == sorted(ALL)

    code, out = run("dry-run", live_server)
    assert code == 0, out
    assert f"CREATE TABLE t_{ALL[0]}" in out
    assert tables(database_url) == set()

    # Without the upgrade scope: exit 22, and the problem says which scope is missing.
    code, out = run("upgrade", live_server, token=READER)
    assert code == 22, out
    assert "upgrade" in out and tables(database_url) == set()

    code, out = run("upgrade", live_server)
    assert code == 0, out
    first = json.loads(out)
    assert first["to"] == [TIP] and len(first["applied"]) == len(ALL)
    # The same job step retried: the first answer, nothing runs again.
    code, out = run("upgrade", live_server)
    assert code == 0 and json.loads(out) == first

    code, out = run("rollback", live_server)
    assert code == 0, out
    exits = re.findall(r"^exit (\d+)$", out, re.MULTILINE)
    assert exits == ["0", "22"], out
    assert "precondition-failed" in out
    # The plan named what the rollback destroys: the tip's (empty) table.
    assert f"DS102 {TIP}:" in out
    assert version_rows(database_url) == {MERGE}  # one revision back, not two

    code, out = run("operations", live_server)
    assert code == 0, out
    logged = [json.loads(line) for line in out.splitlines()]
    latest = logged[0]
    assert latest["kind"] == "downgrade" and latest["actor"] == "tester"
    assert latest["status"] == "succeeded" and latest["to"] == [MERGE]
    assert latest["sql"] is False
    # The dry run is told from the real upgrade: marked, and its "to" is where its SQL leads.
    dry = logged[-1]
    assert dry["kind"] == "upgrade" and dry["sql"] is True and dry["to"] == [TIP]
    assert dry["from"] == []

    code, out = run("async", live_server)
    assert code == 0, out
    assert out.splitlines()[-1] == "succeeded 1/1 null"
    assert version_rows(database_url) == {TIP}


def test_the_rollout_recipe_fails_the_job_on_a_halt_and_passes_once_fixed(tmp_path):
    migrations = audited_directory(tmp_path / "migrations")
    migrations.add(R3, R2, upgrade=audited(R3, FAIL))
    tenants = {f"t{i}": f"sqlite:///{tmp_path / f't{i}.sqlite'}" for i in range(3)}
    server = Gunicorn(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'control.sqlite'}",
            "MIGRATIONS_DIR": str(migrations.path),
            "MIGRATEWAY_TARGETS": json.dumps([{"name": n, "url": u} for n, u in tenants.items()]),
        }
    )
    try:
        code, out = run("rollout", server)
        assert code == 1, out
        assert "halted 0 succeeded, 1 failed" in out and "release 3 is broken" in out
        migrations.add(R3, R2, upgrade=audited(R3))
        # The job runs again once R3 is fixed; the canary's failed revision is resolved first
        # (on SQLite it may have left part of itself).
        assert server.post("/targets/t0/stamp", json={"target": R2, "resolves": _failed(server)}).ok
        time.sleep(GraphCache.RELIST_SECONDS + 0.1)
        code, out = run("rollout", server)
        assert code == 0, out
        assert out.splitlines()[-1] == "succeeded 3 succeeded, 0 failed"
    finally:
        server.stop()
    for url in tenants.values():
        assert version_rows(url) == {R3}


def _failed(server) -> str:
    (op,) = server.get("/targets/t0/operations?limit=1").json()["items"]
    assert op["status"] == "failed"
    return op["id"]
