"""Builds real migrations directories for tests, the way Alembic's own tests write scripts."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from api.config import PROJECT_ROOT

SCRIPT = '''"""{message}

Revision ID: {revision}
Revises: {revises}
{create_date}
"""
from alembic import op
import sqlalchemy as sa

revision = {revision!r}
down_revision = {down_revision!r}
branch_labels = {branch_labels!r}
depends_on = {depends_on!r}


def upgrade():
{upgrade}


def downgrade():
{downgrade}
'''


class MigrationsDir:
    """A throw-away migrations directory with the project's env.py."""

    def __init__(self, path: Path, env_py: Path | None = None):
        self.path = path
        (path / "versions").mkdir(parents=True)
        source = PROJECT_ROOT / "migrations"
        for name in ("alembic.ini", "script.py.mako"):
            shutil.copy(source / name, path / name)
        shutil.copy(env_py or source / "env.py", path / "env.py")

    def add(
        self,
        revision: str,
        down_revision: str | tuple[str, ...] | None = None,
        *,
        message: str | None = None,
        branch_labels: tuple[str, ...] | None = None,
        depends_on: str | None = None,
        upgrade: str | None = None,
        downgrade: str | None = None,
        create_date: str | None = "2026-01-02 03:04:05.000006",
    ) -> Path:
        """Write a revision script; by default it creates and drops table ``t_<revision>``."""
        table = f"t_{revision}"
        upgrade = (
            upgrade or f"op.create_table({table!r}, sa.Column('id', sa.Integer, primary_key=True))"
        )
        downgrade = downgrade or f"op.drop_table({table!r})"
        revises = (
            ", ".join(down_revision) if isinstance(down_revision, tuple) else down_revision or ""
        )
        path = self.path / "versions" / f"{revision}_{(message or 'step').replace(' ', '_')}.py"
        path.write_text(
            SCRIPT.format(
                message=message or f"step {revision}",
                revision=revision,
                revises=revises,
                create_date=f"Create Date: {create_date}" if create_date else "",
                down_revision=down_revision,
                branch_labels=branch_labels,
                depends_on=depends_on,
                upgrade=textwrap.indent(upgrade, "    "),
                downgrade=textwrap.indent(downgrade, "    "),
            )
        )
        return path


def alembic_init(path: Path, template: str = "generic") -> MigrationsDir:
    """A project made as a user makes one, `alembic init -t <template> alembic` in ``path``
    (the command itself, run from this environment), with no revision yet."""
    path.mkdir(parents=True)
    alembic = Path(sys.executable).parent / "alembic"
    subprocess.run(
        [str(alembic), "init", "-t", template, "alembic"],
        cwd=path,
        check=True,
        capture_output=True,
        timeout=60,
    )
    migrations = MigrationsDir.__new__(MigrationsDir)
    migrations.path = path / "alembic"
    return migrations


# The standard graph: a linear start, a named branch, a main line, and a merge.
#
#   BASE -- SECOND --+-- MAIN ----+-- MERGE -- TIP
#                    +-- FEATURE -+
BASE, SECOND, FEATURE, MAIN, MERGE, TIP = (
    "aaaa00000001",
    "aaaa00000002",
    "bbbb00000003",
    "cccc00000004",
    "dddd00000005",
    "eeee00000006",
)
ALL = (BASE, SECOND, FEATURE, MAIN, MERGE, TIP)


def standard_graph(path: Path) -> MigrationsDir:
    migrations = MigrationsDir(path)
    migrations.add(BASE, None, message="create account")
    migrations.add(SECOND, BASE, message="create item")
    migrations.add(FEATURE, SECOND, message="feature flags", branch_labels=("feature",))
    migrations.add(MAIN, SECOND, message="create audit")
    migrations.add(MERGE, (MAIN, FEATURE), message="merge feature", create_date=None)
    migrations.add(TIP, MERGE, message="create release")
    return migrations


def upgrade_order(path: Path) -> list[str]:
    """The revisions `alembic upgrade heads` applies to an empty database, in Alembic's order
    (read by Alembic itself: the oracle for what the API calls pending)."""
    config = Config()
    config.set_main_option("script_location", str(path))
    script = ScriptDirectory.from_config(config)
    return [s.revision for s in reversed(list(script.iterate_revisions("heads", "base")))]


def table(revision: str) -> str:
    return f"t_{revision}"
