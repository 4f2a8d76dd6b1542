"""A plain Alembic project's own alembic.ini / pyproject.toml: found as Alembic finds them and
honoured (prepend_sys_path, version_locations, script_location), and /ready telling the truth
about what env.py and the revision files import."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from api import create_app, db
from api.service.import_check import missing
from api.service.project_files import ProjectFiles, project_files
from tests.databases import tables, version_rows
from tests.tokens import authorized

ALEMBIC = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "alembic")

REVISION = '''"""{message}

Revision ID: {rev}
Create Date: 2026-03-04 05:06:07
"""
from alembic import op
import sqlalchemy as sa
{imports}
revision = "{rev}"
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade():
    op.create_table({table}, sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table({table})
'''


class Project:
    """A project made with ``alembic init -t <template> alembic``, whose settings put its own
    package (under src/) on the path and keep revisions in two directories."""

    def __init__(self, root: Path, template: str):
        self.root = root
        self.template = template
        self.package = f"shop_{uuid.uuid4().hex[:8]}"  # sys.modules is shared by the tests
        root.mkdir()
        subprocess.run(
            [ALEMBIC, "init", "-t", template, "alembic"],
            cwd=root,
            check=True,
            capture_output=True,
        )
        (root / "more_versions").mkdir()
        if template == "pyproject":
            toml = root / "pyproject.toml"
            text = toml.read_text()
            text = re.sub(r'prepend_sys_path = \[\s*"\."\s*\]', 'prepend_sys_path = ["src"]', text)
            # One absolute, one relative to the project (Alembic: to the working directory).
            text += '\nversion_locations = ["%(here)s/alembic/versions", "more_versions"]\n'
            assert 'prepend_sys_path = ["src"]' in text
            toml.write_text(text)
        else:
            ini = root / "alembic.ini"
            text = ini.read_text().replace("prepend_sys_path = .", "prepend_sys_path = src")
            text = text.replace(
                "path_separator = os",
                "path_separator = os\nversion_locations = alembic/versions:%(here)s/more_versions",
            )
            ini.write_text(text)
        self.env_py = root / "alembic" / "env.py"

    def import_models_in_env_py(self) -> int:
        """Make env.py take its metadata from the project's package; return that line."""
        text = self.env_py.read_text()
        line = f"from {self.package}.models import metadata\n"
        text = text.replace("from alembic import context\n", "from alembic import context\n" + line)
        text = text.replace("target_metadata = None", "target_metadata = metadata")
        self.env_py.write_text(text)
        return text.splitlines().index(line.strip()) + 1

    def write_package(self) -> None:
        package = self.root / "src" / self.package
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "models.py").write_text(
            "import sqlalchemy as sa\n\nmetadata = sa.MetaData()\nTABLE = 'things'\n"
        )

    def add(self, directory: str, rev: str, down: str | None, table: str, imports: str = ""):
        path = self.root / directory / f"{rev}_{table.strip(chr(34))}.py"
        path.write_text(
            REVISION.format(
                message=f"create {table}",
                rev=rev,
                down=repr(down),
                table=table,
                imports=imports,
            )
        )
        return path


@pytest.fixture
def isolated_imports(monkeypatch):
    """The service puts a project's prepend_sys_path on sys.path: undo it after the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("shop_"):
            del sys.modules[name]


def serve(project: Project, database_url: str, **config):
    settings = {"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(project.root / "alembic")}
    app = create_app({**settings, **config})
    return app, authorized(app.test_client())


def dispose(app) -> None:
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("template", ["generic", "pyproject"])
def test_a_plain_project_runs_with_its_own_settings(
    template, tmp_path, database_url, isolated_imports
):
    project = Project(tmp_path / "project", template)
    project.write_package()
    project.import_models_in_env_py()
    # The first revision takes its table's name from the project's package.
    imports = f"from {project.package} import models\n"
    project.add("alembic/versions", "0001", None, "models.TABLE", imports)
    project.add("more_versions", "0002", "0001", '"more_things"')
    app, client = serve(project, database_url)
    try:
        assert client.get("/ready").status_code == 200
        listed = client.get("/revisions").get_json()["items"]
        assert [r["revision"] for r in listed] == ["0002", "0001"]
        assert client.get("/current").get_json()["pending"] == ["0001", "0002"]
        r = client.post("/upgrade")
        assert r.status_code == 200, r.get_json()
        assert [s["revision"] for s in r.get_json()["applied"]] == ["0001", "0002"]
        assert version_rows(database_url) == {"0002"}
        assert {"things", "more_things"} <= tables(database_url)
        assert client.get("/current").get_json()["up_to_date"] is True

        r = client.post("/downgrade", json={"target": "base", "sql": True})
        assert r.status_code == 200, r.get_json()
        assert "DROP TABLE more_things" in r.get_json()["sql"] and r.get_json()["to"] == []
        assert client.post("/stamp", json={"target": "0001"}).status_code == 200
        assert version_rows(database_url) == {"0001"}
        assert client.post("/stamp", json={"target": "head"}).status_code == 200

        (project.root / "more_versions" / "0003_breaks.py").write_text(BREAKS)
        r = client.post("/upgrade")
        assert r.status_code == 422, r.get_json()
        assert r.get_json()["failed_revision"] == "0003"
        assert r.get_json()["current"] == sorted(version_rows(database_url))
        (project.root / "more_versions" / "0003_breaks.py").unlink()
        if r.get_json()["partial_possible"]:  # no transactional DDL: the operator settles it
            done = client.post(
                "/stamp", json={"target": "0002", "resolves": r.get_json()["operation_id"]}
            )
            assert done.status_code == 200, done.get_json()

        r = client.post("/downgrade", json={"target": "base"})
        assert r.status_code == 200, r.get_json()
        assert version_rows(database_url) == set()
        assert not {"things", "more_things"} & tables(database_url)
    finally:
        dispose(app)


BREAKS = """\"\"\"breaks

Revision ID: 0003
Revises: 0002
\"\"\"
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("INSERT INTO no_such_table VALUES (1)")


def downgrade():
    pass
"""


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


def test_alembic_config_names_the_file(tmp_path, sqlite_only, database_url, isolated_imports):
    """ALEMBIC_CONFIG, as for the alembic command: its script_location says where the
    migrations are, wherever the file is."""
    project = Project(tmp_path / "project", "generic")
    project.add("alembic/versions", "0001", None, '"things"')
    project.add("more_versions", "0002", "0001", '"more"')
    elsewhere = tmp_path / "deploy" / "prod.ini"
    elsewhere.parent.mkdir()
    text = (project.root / "alembic.ini").read_text()
    text = text.replace("%(here)s/", str(project.root) + "/")
    elsewhere.write_text(text.replace("= alembic/versions", f"= {project.root}/alembic/versions"))
    app, client = serve(
        project,
        database_url,
        MIGRATIONS_DIR=str(tmp_path / "unused"),
        ALEMBIC_CONFIG=str(elsewhere),
    )
    try:
        assert client.post("/upgrade").status_code == 200
        assert version_rows(database_url) == {"0002"}
    finally:
        dispose(app)


def test_only_a_file_that_names_the_directory_is_taken(tmp_path):
    """Flask-Migrate's own alembic.ini first; a file beside the directory only if its
    script_location is that directory (another project's file next door is left alone)."""
    project = Project(tmp_path / "project", "generic")
    migrations = str(project.root / "alembic")
    assert project_files(migrations) == ProjectFiles(str(project.root / "alembic.ini"), None)
    other = tmp_path / "project" / "other"
    other.mkdir()
    assert project_files(str(other)) is None
    (other / "alembic.ini").write_text("[alembic]\n")  # Flask-Migrate's layout
    assert project_files(str(other)) == ProjectFiles(str(other / "alembic.ini"), None)
    assert project_files(str(other), alembic_config=str(project.root / "alembic.ini")).here == (
        str(project.root)
    )


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
