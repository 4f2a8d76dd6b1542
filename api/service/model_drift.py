"""Model drift, `flask db check` as data: the application's models compared with the live
database by Alembic's autogenerate, through the project's own env.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from alembic import context as alembic_context
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy import schema as sa_schema
from sqlalchemy.exc import CompileError
from sqlalchemy.types import TypeEngine

from api.service.binds import DEFAULT
from api.service.database import describe_error
from api.service.drift_rules import Seen, false_positive
from api.service.runner import StepsFailed, StepTimer, run_env

if TYPE_CHECKING:
    from api.service import MigrationService


def model_drift(svc: MigrationService) -> dict:
    """``{"checked", "ok", "differences"}`` (and ``reason`` when not checked): what
    autogenerate would put in a new revision, each difference marked whether a known false
    positive (api/service/drift_rules.py).

    env.py runs as for an upgrade, inside the application's context, and runs nothing: its
    ``context.configure()`` options (target_metadata, include_object, include_name,
    include_schemas, compare_type, compare_server_default) drive the comparison as they drive
    `flask db migrate`. Only a database at the head revisions is compared: before, the
    pending revisions are the difference.
    """
    if not svc.models_known:
        return _unchecked(
            "The models of this migrations directory are not known here: set MIGRATEWAY_APP to "
            "the application that defines them."
        )
    heads = svc.bind_heads()
    behind = [name for name, at in heads.items() if not at]
    if behind:
        return _unchecked(f"No revision is applied yet ({_binds(behind, svc)}).")
    config = svc.config()
    graph = svc.graph(config)
    timer = StepTimer(log_steps=False)
    found: list[dict] = []
    reasons: list[str] = []
    log_schema = svc.oplog._schema

    def compare(at: tuple[str, ...]) -> list:
        bind = timer.bind or DEFAULT
        if set(at) != set(graph.heads):
            reasons.append(f"{_where(bind, svc)}is not at head ({', '.join(sorted(at))})")
            return []
        migration = alembic_context.get_context()
        metadata = migration.opts.get("target_metadata")
        if metadata is None:
            reasons.append("env.py gives context.configure() no target_metadata")
            return []
        for described in differences(migration, metadata):
            # The operation log's own tables: never drift, whatever include_schemas says.
            if log_schema is not None and described.pop("schema", None) == log_schema:
                continue
            if svc.binds.multi:
                described["bind"] = bind
            found.append(described)
        return []

    try:
        with svc.app_context():
            run_env(
                config,
                graph.script,
                compare,
                version_table=svc.version_table,
                timer=timer,
                binds=svc.binds,
            )
    except StepsFailed as failed:
        return _unchecked(f"The comparison failed: {describe_error(failed.error)}")
    if reasons:
        return _unchecked("; ".join(reasons).capitalize() + ".")
    ok = not any(not d["false_positive"] for d in found)
    return {"checked": True, "ok": ok, "differences": found}


def differences(migration: MigrationContext, metadata) -> list[dict]:
    """Alembic's comparison of ``metadata`` with ``migration``'s database, as JSON."""
    diffs = _flatten(compare_metadata(migration, metadata))
    return [_describe(diff, migration.dialect) for diff in diffs]


def compare(connection: Connection, metadata, **options) -> list[dict]:
    """:func:`differences` on ``connection`` with ``options`` as env.py would give them to
    ``context.configure()`` (compare_type, compare_server_default, include_object, ...)."""
    return differences(MigrationContext.configure(connection, opts=options), metadata)


def _unchecked(reason: str) -> dict:
    return {"checked": False, "ok": False, "differences": [], "reason": reason}


def _where(bind: str, svc) -> str:
    return f"bind '{bind}' " if svc.binds.multi else "the database "


def _binds(names: list[str], svc) -> str:
    return ", ".join(f"bind '{n}'" for n in names) if svc.binds.multi else "the database"


def _flatten(diffs: list) -> list[tuple]:
    """Alembic groups a column's modify_* differences in a list; one difference each here."""
    flat = []
    for diff in diffs:
        flat.extend(diff if isinstance(diff, list) else [diff])
    return flat


def _describe(diff: tuple, dialect) -> dict:
    """One of Alembic's diff tuples as JSON: kind, table, column, from, to (and the schema,
    the name of an index or constraint), marked whether a known false positive."""
    kind = diff[0]
    described = {"kind": kind, "table": None, "column": None, "from": None, "to": None}
    rule = None
    if kind.startswith("modify_"):
        schema, table, column, existing, database, model = diff[1:7]
        column_type = existing.get("existing_type")
        if kind == "modify_default":
            database, model = _default(database, dialect), _default(model, dialect)
        rule = false_positive(Seen(dialect.name, kind, column_type, database, model))
        described.update(table=table, column=column, schema=schema)
        described.update({"from": _text(database, dialect), "to": _text(model, dialect)})
    elif kind in ("add_column", "remove_column"):
        schema, table, column = diff[1:4]
        side = "to" if kind == "add_column" else "from"
        described.update(table=table, column=column.name, schema=schema)
        described[side] = _text(column.type, dialect)
    else:
        described.update(_object(diff[1], kind, dialect))
    described["false_positive"] = rule is not None
    if rule is not None:
        described["rule"] = rule
    return described


def _object(obj, kind: str, dialect) -> dict:
    """A table, index or constraint that is in the models only (add_*) or the database only."""
    side = "from" if kind.startswith("remove_") else "to"
    if isinstance(obj, sa_schema.Table):
        return {"table": obj.name, "schema": obj.schema, side: sorted(obj.columns.keys())}
    table = getattr(obj, "table", None)
    shown = {"columns": [getattr(c, "name", str(c)) for c in getattr(obj, "columns", ())]}
    if isinstance(obj, sa_schema.Index):
        shown["unique"] = bool(obj.unique)
    if isinstance(obj, sa_schema.ForeignKeyConstraint):
        shown["referred_table"] = obj.referred_table.name
    return {
        "table": getattr(table, "name", None),
        "schema": getattr(table, "schema", None),
        "name": getattr(obj, "name", None),
        side: shown,
    }


def _default(value, dialect) -> str | None:
    """A server default (the database's DefaultClause or the model's) as SQL text."""
    if value is None or value is False:
        return None
    arg = getattr(value, "arg", value)
    if isinstance(arg, str):  # the model's plain string: a literal, as the DDL writes it
        return "'" + arg.replace("'", "''") + "'"
    return str(arg.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def _text(value, dialect):
    """A type as the dialect writes it; other values as they are."""
    if isinstance(value, TypeEngine):
        try:
            return str(value.compile(dialect=dialect))
        except CompileError:  # a type the dialect cannot render (NullType)
            return repr(value)
    return value
