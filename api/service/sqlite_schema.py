"""A SQLite schema picture in four queries, one per catalogue, for api/service/schema_snapshot.py.

The Inspector asks SQLite several PRAGMAs per table: 1.0-1.3 s for 1,000 tables, a fifth of the
upgrade that created them (benchmark 3). SQLite's PRAGMA table-valued functions joined with
sqlite_master read every table's columns, indexes or foreign keys in one statement each.
"""

from __future__ import annotations

import sqlalchemy as sa

_WHERE = "WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'"
_COLUMNS = (
    'SELECT m.name, p.name, p.type, p."notnull", p.dflt_value, p.pk '
    f"FROM sqlite_master m JOIN pragma_table_info(m.name) p {_WHERE} ORDER BY m.name, p.cid"
)
_INDEXES = (
    'SELECT m.name, il.name, il."unique", il.origin, ii.name '
    "FROM sqlite_master m JOIN pragma_index_list(m.name) il JOIN pragma_index_info(il.name) ii "
    f"{_WHERE} ORDER BY m.name, il.name, ii.seqno"
)
_FOREIGN_KEYS = (
    'SELECT m.name, f.id, f."table", f."from", f."to", f.on_update, f.on_delete '
    f"FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f {_WHERE} "
    "ORDER BY m.name, f.id, f.seq"
)


def tables(connection: sa.Connection, exclude: set[str]) -> dict:
    """Table name -> its picture (the shape schema_snapshot.take gives every dialect)."""
    run = connection.exec_driver_sql
    found = {
        name: {"columns": {}, "primary_key": [], "indexes": {}, "unique": {}, "foreign_keys": {}}
        for (name,) in run(f"SELECT m.name FROM sqlite_master m {_WHERE}")
        if name not in exclude
    }
    keys: dict[str, list[tuple[int, str]]] = {}
    for table, name, type_, notnull, default, pk in run(_COLUMNS):
        if table in found:
            found[table]["columns"][name] = {
                "type": type_,
                "nullable": not notnull,
                "default": default,
            }
            if pk:
                keys.setdefault(table, []).append((pk, name))
    for table, columns in keys.items():
        found[table]["primary_key"] = [name for _position, name in sorted(columns)]
    _indexes(found, run(_INDEXES))
    _foreign_keys(found, run(_FOREIGN_KEYS))
    return found


def _indexes(found: dict, rows) -> None:
    columns: dict[tuple[str, str], list[str]] = {}
    kinds = {}
    for table, index, unique, origin, column in rows:
        if table in found and origin != "pk":
            columns.setdefault((table, index), []).append(column or "(expression)")
            kinds[table, index] = (bool(unique), origin)
    for (table, index), names in columns.items():
        unique, origin = kinds[table, index]
        if origin == "u":  # a UNIQUE constraint: SQLite names its index, not the constraint
            found[table]["unique"]["(" + ", ".join(names) + ")"] = {"columns": names}
        else:
            found[table]["indexes"][index] = {"columns": names, "unique": unique}


def _foreign_keys(found: dict, rows) -> None:
    keys: dict[tuple[str, int], dict] = {}
    for table, key, referred, local, remote, on_update, on_delete in rows:
        if table not in found:
            continue
        picture = keys.setdefault(
            (table, key), {"columns": [], "referred_table": referred, "referred_columns": []}
        )
        picture["columns"].append(local)
        picture["referred_columns"].append(remote)
        options = {"onupdate": on_update, "ondelete": on_delete}
        options = {k: v for k, v in options.items() if v and v != "NO ACTION"}
        if options:
            picture["options"] = options
    for (table, _key), picture in keys.items():
        name = "(" + ", ".join(picture["columns"]) + ")"  # SQLite keeps no name
        found[table]["foreign_keys"][name] = picture
