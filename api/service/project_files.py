"""Finding a project's alembic.ini / pyproject.toml as Alembic finds them, and reading its paths
as Alembic would from the directory those files sit in."""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass

from alembic.config import Config

INI = "alembic.ini"
TOML = "pyproject.toml"
# The settings that hold paths; Alembic reads relative ones against the working directory,
# which for a server is wherever it was started, not the project.
PATH_SETTINGS = ("script_location", "version_locations", "prepend_sys_path")


@dataclass(frozen=True)
class ProjectFiles:
    """The configuration files of one migrations directory (either may be None)."""

    ini: str | None
    toml: str | None

    @property
    def here(self) -> str | None:
        """The directory the files sit in: where a user runs ``alembic`` from."""
        found = self.ini or self.toml
        return os.path.dirname(found) if found else None

    def config(self) -> Config:
        """A fresh Alembic Config of these files, as the ``alembic`` command builds it."""
        return Config(self.ini, toml_file=self.toml)


def project_files(
    migrations_dir: str, app_root: str | None = None, alembic_config: str | None = None
) -> ProjectFiles | None:
    """The alembic.ini and/or pyproject.toml (``[tool.alembic]``) that configure
    ``migrations_dir``; None when there is none and the directory stands alone.

    ``alembic_config`` (ALEMBIC_CONFIG) names the file, as for the ``alembic`` command; its
    other half is looked for beside it. Otherwise the candidates are, in order, the directory
    itself (Flask-Migrate's layout), its parent (``alembic init``'s layout) and the
    application's root; a file there counts only if its ``script_location`` is this directory,
    so another project's file next door is never taken.
    """
    if alembic_config:
        path = os.path.abspath(alembic_config)
        here = os.path.dirname(path)
        if os.path.basename(path) == TOML:
            return ProjectFiles(_existing(os.path.join(here, INI)), path)
        return ProjectFiles(path, _alembic_toml(os.path.join(here, TOML)))
    target = os.path.realpath(migrations_dir)
    candidates = [migrations_dir, os.path.dirname(os.path.abspath(migrations_dir))]
    if app_root:
        candidates.append(app_root)
    for here in candidates:
        files = ProjectFiles(
            _existing(os.path.join(here, INI)), _alembic_toml(os.path.join(here, TOML))
        )
        if files.ini is None and files.toml is None:
            continue
        if here == migrations_dir and files.toml is None:
            return files  # Flask-Migrate's alembic.ini, which names no script_location
        location = script_location(files.config(), os.path.abspath(here))
        if location is not None and os.path.realpath(location) == target:
            return files
    return None


def script_location(config: Config, here: str) -> str | None:
    """The script directory ``config`` names, absolute; None where it names none."""
    location = config.get_alembic_option("script_location")
    return None if location is None else _absolute(location, here)


def settle_paths(config: Config, here: str) -> list[str]:
    """Write ``config``'s path settings back as absolute paths, relative ones read against
    ``here``; put the ``prepend_sys_path`` entries on sys.path (once each) and return them."""
    location = script_location(config, here)
    if location is not None:
        _set(config, "script_location", location)
    versions = config.get_version_locations_list() or []
    prepend = config.get_prepend_sys_paths_list() or []
    # Both lists now travel joined by os.pathsep, whatever separator the file used.
    _set(config, "path_separator", "os")
    if versions:
        _set(config, "version_locations", os.pathsep.join(_absolute(v, here) for v in versions))
    prepend = [_absolute(p, here) for p in prepend]
    if prepend:
        _set(config, "prepend_sys_path", os.pathsep.join(prepend))
        # As ScriptDirectory.from_config does, but once: reads never build one, and the
        # revision files a read imports (and /ready's import check) need the same path.
        sys.path[:0] = [p for p in prepend if p not in sys.path]
    return prepend


def _absolute(path: str, here: str) -> str:
    # "package:dir" names a resource inside an installed package: Alembic resolves it.
    if os.path.isabs(path) or ":" in path:
        return path
    return os.path.normpath(os.path.join(here, path))


def _set(config: Config, name: str, value: str) -> None:
    config.set_main_option(name, value.replace("%", "%%"))


def _existing(path: str) -> str | None:
    return path if os.path.isfile(path) else None


def _alembic_toml(path: str) -> str | None:
    """``path`` if it is a pyproject.toml with a ``[tool.alembic]`` table."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return None  # Alembic would fail on it too; the ini (if any) still counts
    return path if "alembic" in data.get("tool", {}) else None


# The service and the installed libraries, which may sit inside the project's directory
# (a .venv there, the embedded migrations beside api/): never "where the project raised".
_NOT_PROJECT = tuple(
    os.path.realpath(p) + os.sep
    for p in (sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(__file__)))
)


def shown_name(path: str, roots: list[str]) -> str:
    """``path`` relative to the first of ``roots`` that holds it, else its base name: an
    answer never shows where the server keeps the project."""
    real = os.path.realpath(path)
    for root in roots:
        base = os.path.realpath(root)
        if real.startswith(base + os.sep):
            return os.path.relpath(real, base)
    return os.path.basename(path)


def raised_at(exc: BaseException, roots: list[str]) -> tuple[str, int] | None:
    """The file (named by :func:`shown_name`) and line of the innermost frame of ``exc``'s
    traceback that lies in the project: where in env.py, a revision or the project's own
    package the error was raised. None when no frame does (it came from the service)."""
    found = None
    tb = exc.__traceback__
    bases = [os.path.realpath(root) + os.sep for root in roots]
    while tb is not None:
        filename = os.path.realpath(tb.tb_frame.f_code.co_filename)
        ours = filename.startswith(_NOT_PROJECT)
        if not ours and any(filename.startswith(base) for base in bases):
            found = (shown_name(filename, roots), tb.tb_lineno)
        tb = tb.tb_next
    return found
