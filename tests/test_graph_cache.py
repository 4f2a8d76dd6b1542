"""The revision graph is loaded once per process and reloaded only when a version file changes."""

from __future__ import annotations

import os

import pytest

from api import create_app, db
from tests.revision_graph import ALL, MAIN, TIP
from tests.tokens import authorized

pytestmark = pytest.mark.usefixtures("sqlite_only")


def count_imports(migrations, tmp_path):
    """Make every revision file append a line to a file each time it is executed."""
    marker = tmp_path / "imports.log"
    for path in (migrations.path / "versions").glob("*.py"):
        source = path.read_text()
        path.write_text(source + f"\nwith open({str(marker)!r}, 'a') as f:\n    f.write('x\\n')\n")
    return lambda: len(marker.read_text().splitlines()) if marker.exists() else 0


def test_reads_execute_no_revision_file_and_a_write_imports_each_once(client, migrations, tmp_path):
    imports = count_imports(migrations, tmp_path)
    for url in ("/revisions", "/current", "/revisions?limit=2", f"/revisions/{MAIN}", "/heads"):
        assert client.get(url).status_code == 200
    assert client.get("/revisions/head").get_json()["revision"] == TIP  # a symbol, resolved
    assert imports() == 0
    assert client.post("/upgrade", json={"target": "heads"}).status_code == 200
    assert imports() == len(ALL)
    client.post("/downgrade", json={"target": "base"})
    client.get("/revisions")
    assert imports() == len(ALL)


def test_a_changed_file_is_seen(client, migrations):
    assert client.get(f"/revisions/{MAIN}").get_json()["message"] == "create audit"
    path = next((migrations.path / "versions").glob(f"{MAIN}_*.py"))
    path.write_text(path.read_text().replace('"""create audit', '"""create the audit table'))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert client.get(f"/revisions/{MAIN}").get_json()["message"] == "create the audit table"


def test_a_removed_file_is_seen(client, migrations):
    assert client.get("/revisions").get_json()["total"] == len(ALL)
    next((migrations.path / "versions").glob(f"{TIP}_*.py")).unlink()
    page = client.get("/revisions").get_json()
    assert page["total"] == len(ALL) - 1
    assert TIP not in {item["revision"] for item in page["items"]}
    assert client.get(f"/revisions/{TIP}").status_code == 404


def test_cached_answers_equal_a_fresh_process(client, migrations, database_url):
    client.post("/upgrade", json={"target": MAIN})
    client.get("/revisions")  # warm the cache
    warm = [client.get(url).get_json() for url in ("/revisions", "/current", "/heads")]
    fresh_app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations.path)})
    fresh = authorized(fresh_app.test_client())
    cold = [fresh.get(url).get_json() for url in ("/revisions", "/current", "/heads")]
    with fresh_app.app_context():
        db.engine.dispose()
    assert warm == cold


def test_the_dump_memo_forgets_old_revisions_without_losing_a_page(client, monkeypatch):
    """When the memo is full it starts again; a page that was partly remembered is whole."""
    from api.schemas import revisions as revision_schemas

    full = client.get("/revisions").get_json()
    monkeypatch.setattr(revision_schemas._DumpMemo, "LIMIT", len(full["items"]) - 1)
    monkeypatch.setattr(revision_schemas, "_memo", revision_schemas._DumpMemo())
    assert client.get("/revisions?limit=2").get_json()["items"] == full["items"][:2]
    assert client.get("/revisions").get_json() == full
