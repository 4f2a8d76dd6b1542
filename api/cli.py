"""`flask --app wsgi db ...`: Flask-Migrate's commands, on the application the service runs.

Flask-Migrate's commands act on ``current_app``'s extension. With MIGRATEWAY_APP that must be
the user's application, or ``db migrate`` would compare the service's own model with the user's
database and write a revision that drops every table of theirs.
"""

from __future__ import annotations

import os

import click
from flask import Flask
from flask_migrate.cli import db as flask_migrate_db

from api.config import EMBEDDED_MIGRATIONS

# The command that compares models with the database and writes what differs as a revision
# (so does `revision --autogenerate`).
_AUTOGENERATING = {"migrate"}


class _UserAppDb(click.Group):
    """The `db` group run inside the user's application's context, as `flask --app <it> db`
    would run it (Flask pushes the service's context first; the innermost one is current)."""

    def __init__(self, user_app: Flask):
        super().__init__(**_as_flask_migrate_db())
        self.user_app = user_app

    def invoke(self, ctx: click.Context):
        with self.user_app.app_context():
            return super().invoke(ctx)


class _EmbeddedDb(click.Group):
    """The `db` group on the service's own model, which refuses to autogenerate into a
    directory that already holds revisions of another application."""

    def __init__(self, directory: str):
        super().__init__(**_as_flask_migrate_db())
        self.directory = directory

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name, command, rest = super().resolve_command(ctx, args)
        autogenerates = name in _AUTOGENERATING or (name == "revision" and "--autogenerate" in rest)
        directory = (
            _option(rest, "-d", "--directory") or ctx.params.get("directory") or self.directory
        )
        if autogenerates and _foreign(directory):
            raise click.UsageError(
                f"`db {name}` here compares the service's own model with your database: it would "
                f"write a revision dropping your tables into {directory}. Set "
                "MIGRATEWAY_APP to your application, or run `flask --app <your app> db "
                f"{name}` in your project.",
                ctx,
            )
        return name, command, rest


def init_app(app: Flask, user_app=None) -> None:
    """Register the `db` command group for the application the service runs."""
    if user_app is not None:
        app.cli.add_command(_UserAppDb(user_app.app))
    else:
        app.cli.add_command(_EmbeddedDb(app.config["MIGRATIONS_DIR"]))


def _as_flask_migrate_db() -> dict:
    # Its own options (-d, -x) and callback (which hands them to Migrate.get_config()) too.
    group = flask_migrate_db
    return {
        "name": "db",
        "commands": group.commands,
        "params": group.params,
        "callback": group.callback,
        "help": group.help,
    }


def _foreign(directory: str) -> bool:
    """A directory other than the embedded one that already holds revisions (a new, empty one
    is where the embedded model's first revision may go)."""
    if os.path.realpath(directory) == os.path.realpath(EMBEDDED_MIGRATIONS):
        return False
    versions = os.path.join(directory, "versions")
    return os.path.isdir(versions) and any(n.endswith(".py") for n in os.listdir(versions))


def _option(args: list[str], *names: str) -> str | None:
    for i, arg in enumerate(args):
        if arg in names and i + 1 < len(args):
            return args[i + 1]
        for name in names:
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None
