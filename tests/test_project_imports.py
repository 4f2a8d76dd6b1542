"""A plain Alembic project's imports: /ready telling the truth about what env.py and the
revision files import, a write refused naming the file and line, and a submodule looked up
without importing its package."""

from __future__ import annotations

import json
import sys

from api.service.import_check import missing
from tests.alembic_project import Project, dispose, serve
from tests.databases import version_rows


def test_ready_names_env_py_until_its_package_is_importable(
    tmp_path, sqlite_only, database_url, isolated_imports
):
    project = Project(tmp_path / "project", "generic")
    line = project.import_models_in_env_py()
    project.add("alembic/versions", "0001", None, '"things"')
    app, client = serve(project, database_url)
    try:
        ready = app.test_client().get("/ready")
        assert ready.status_code == 503 and ready.content_type == "application/problem+json"
        body = ready.get_json()
        assert body["checks"] == {"database": "ok", "migrations": "unavailable"}
        error = f"ModuleNotFoundError: No module named '{project.package}'"
        assert body["import_error"] == {"file": "env.py", "line": line, "error": error}
        assert f"env.py, line {line}: {error}" in body["detail"]
        assert str(tmp_path) not in json.dumps(body)
        # A write fails in env.py, and says where.
        failed = client.post("/upgrade")
        assert failed.status_code == 422
        problem = failed.get_json()
        assert problem["raised_at"] == {"file": "env.py", "line": line}
        assert f"(env.py, line {line})" in problem["detail"] and error in problem["error"]
        assert version_rows(database_url) == set()

        project.write_package()
        assert app.test_client().get("/ready").status_code == 200
        assert client.post("/upgrade").status_code == 200
        assert version_rows(database_url) == {"0001"}
    finally:
        dispose(app)


def test_a_revision_that_cannot_import_is_named(
    tmp_path, sqlite_only, database_url, isolated_imports
):
    project = Project(tmp_path / "project", "pyproject")
    project.add("alembic/versions", "0001", None, '"things"')
    broken = project.add("more_versions", "0002", "0001", '"more"', "import shop_not_there\n")
    app, client = serve(project, database_url)
    try:
        body = app.test_client().get("/ready").get_json()
        error = "ModuleNotFoundError: No module named 'shop_not_there'"
        name = f"more_versions/{broken.name}"
        assert body["import_error"] == {"file": name, "line": 8, "error": error}
        # Reads still serve the graph, from the files' text.
        assert client.get("/current").get_json()["pending"] == ["0001", "0002"]
        # A write imports every file first: refused, naming the file, before any change.
        r = client.post("/upgrade")
        assert r.status_code == 503, r.get_json()
        problem = r.get_json()
        assert problem["type"].endswith(":migrations-unavailable")
        assert (problem["file"], problem["line"]) == (name, 8)
        assert f"{name}, line 8: {error}" in problem["detail"]
        assert version_rows(database_url) == set()

        broken.write_text(broken.read_text().replace("import shop_not_there\n", "\n"))
        assert app.test_client().get("/ready").status_code == 200
    finally:
        dispose(app)


def test_a_submodule_is_looked_up_without_importing_its_package(tmp_path, monkeypatch):
    package = tmp_path / "shop_lookup"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('imported')\n")
    (package / "models.py").write_text("")
    (tmp_path / "shop_flat.py").write_text("")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    assert missing("shop_lookup.models") is None
    assert (
        missing("shop_lookup.orders") == "ModuleNotFoundError: No module named 'shop_lookup.orders'"
    )
    assert missing("shop_flat.x") == (
        "ModuleNotFoundError: No module named 'shop_flat.x'; 'shop_flat' is not a package"
    )
    assert "shop_lookup" not in sys.modules
