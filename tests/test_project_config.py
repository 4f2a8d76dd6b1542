"""A plain Alembic project's own alembic.ini / pyproject.toml: found as Alembic finds them and
honoured (prepend_sys_path, version_locations, script_location, ALEMBIC_CONFIG). What env.py
and the revision files import: tests/test_project_imports.py."""

from __future__ import annotations

import pytest

from api.service.project_files import ProjectFiles, project_files
from tests.alembic_project import Project, dispose, serve
from tests.databases import tables, version_rows


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
