"""Which steps cannot destroy data, told from their code without rendering them.

Rendering a chain's SQL costs about as much as running it offline (1.4 s for 1,000 revisions
on SQLite), and the data-loss guard would pay that before every write. A step whose function
only creates (``op.create_table``, ``op.add_column``, ``op.create_index`` ...) and names only
SQLAlchemy's types and functions cannot drop anything: the guard skips rendering a chain made
only of such steps (benchmark 3: PostgreSQL 1.10 of ``flask db upgrade`` with rendering, see
the README). Anything else (a helper function, ``op.execute``, ``batch_alter_table``, a drop)
is rendered and analysed. It is an allowlist: a name it does not know makes a step unsafe.
"""

from __future__ import annotations

import builtins
import types

import sqlalchemy

# The operations that add to a schema and can destroy nothing.
_CREATING = frozenset(
    {
        "op",
        "f",
        "create_table",
        "add_column",
        "create_index",
        "create_unique_constraint",
        "create_foreign_key",
        "create_check_constraint",
        "create_primary_key",
        "create_table_comment",
        "create_exclude_constraint",
        "ops",
    }
)
_HARMLESS_BUILTINS = frozenset({"None", "True", "False", "len", "range", "str", "int", "dict"})


def cannot_destroy(module: types.ModuleType, is_upgrade: bool) -> bool:
    """True when the step's function (``upgrade`` or ``downgrade``, and any ``upgrade_<bind>``
    of several databases) provably runs only creating operations."""
    name = "upgrade" if is_upgrade else "downgrade"
    functions = [
        value
        for key, value in vars(module).items()
        if (key == name or key.startswith(name + "_")) and isinstance(value, types.FunctionType)
    ]
    return bool(functions) and all(_only_creates(fn.__code__, vars(module)) for fn in functions)


def _only_creates(code: types.CodeType, module_globals: dict) -> bool:
    for name in code.co_names:
        known = name in _CREATING or name in _HARMLESS_BUILTINS
        if not (known or _from_sqlalchemy(name, module_globals)):
            return False
    return all(
        _only_creates(const, module_globals)
        for const in code.co_consts
        if isinstance(const, types.CodeType)
    )


def _from_sqlalchemy(name: str, module_globals: dict) -> bool:
    """A type, a function or a module of SQLAlchemy (``sa``, ``sa.Integer``, ``postgresql.UUID``):
    they build schema objects and run nothing."""
    value = module_globals.get(name, getattr(sqlalchemy, name, None))
    if value is None:
        return False
    if value is getattr(builtins, name, object()):
        return False
    module = value if isinstance(value, types.ModuleType) else None
    owner = module.__name__ if module else getattr(value, "__module__", None)
    return (owner or "").startswith("sqlalchemy")
