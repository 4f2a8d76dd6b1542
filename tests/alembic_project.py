"""A plain Alembic project for the tests, made with ``alembic init``: its own alembic.ini or
pyproject.toml, a package under src/, revisions in two directories; and the service on it."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

from api import create_app, db
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
        """The project's package under src/: models with their metadata and a table name."""
        package = self.root / "src" / self.package
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "models.py").write_text(
            "import sqlalchemy as sa\n\nmetadata = sa.MetaData()\nTABLE = 'things'\n"
        )

    def add(self, directory: str, rev: str, down: str | None, table: str, imports: str = ""):
        """A revision file in ``directory`` that creates ``table`` (a Python expression)."""
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


def serve(project: Project, database_url: str, **config):
    """The service on the project's migrations and ``database_url``: (app, client)."""
    settings = {"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(project.root / "alembic")}
    app = create_app({**settings, **config})
    return app, authorized(app.test_client())


def dispose(app) -> None:
    """Close the app's database engine."""
    with app.app_context():
        db.engine.dispose()
