"""What changed between two schema pictures (api/service/schema_snapshot.py), as JSON
differences: ``kind``, ``table``, ``column`` or ``name``, ``from``, ``to``."""

from __future__ import annotations

# The parts of a table kept by name, and the word each difference's kind uses for them.
_NAMED_PARTS = {"indexes": "index", "unique": "unique", "foreign_keys": "foreign_key"}


def differences(recorded: dict, live: dict) -> list[dict]:
    """What ``live`` has that ``recorded`` had not, and the reverse: tables, columns, primary
    keys, indexes, unique and foreign-key constraints."""
    before, after = recorded["tables"], live["tables"]
    found = []
    for table in sorted(after.keys() - before.keys()):
        found.append(_difference("table_added", table, to=sorted(after[table]["columns"])))
    for table in sorted(before.keys() - after.keys()):
        found.append(_difference("table_removed", table, from_=sorted(before[table]["columns"])))
    for table in sorted(before.keys() & after.keys()):
        found.extend(_table_differences(table, before[table], after[table]))
    return found


def _table_differences(table: str, before: dict, after: dict) -> list[dict]:
    found = []
    old, new = before["columns"], after["columns"]
    for column in [c for c in new if c not in old]:
        found.append(_difference("column_added", table, column=column, to=new[column]))
    for column in [c for c in old if c not in new]:
        found.append(_difference("column_removed", table, column=column, from_=old[column]))
    for column in [c for c in old if c in new and old[c] != new[c]]:
        changed = [
            k
            for k in old[column].keys() | new[column].keys()
            if old[column].get(k) != new[column].get(k)
        ]
        found.append(
            _difference(
                "column_changed",
                table,
                column=column,
                from_={k: old[column].get(k) for k in sorted(changed)},
                to={k: new[column].get(k) for k in sorted(changed)},
            )
        )
    if before["primary_key"] != after["primary_key"]:
        found.append(
            _difference(
                "primary_key_changed", table, from_=before["primary_key"], to=after["primary_key"]
            )
        )
    for part, word in _NAMED_PARTS.items():
        found.extend(_named_differences(table, word, before[part], after[part]))
    return found


def _named_differences(table: str, word: str, before: dict, after: dict) -> list[dict]:
    found = []
    for name in sorted(after.keys() - before.keys()):
        found.append(_difference(f"{word}_added", table, name=name, to=after[name]))
    for name in sorted(before.keys() - after.keys()):
        found.append(_difference(f"{word}_removed", table, name=name, from_=before[name]))
    for name in sorted(before.keys() & after.keys()):
        if before[name] != after[name]:
            found.append(
                _difference(f"{word}_changed", table, name=name, from_=before[name], to=after[name])
            )
    return found


def _difference(kind: str, table: str, *, column=None, name=None, from_=None, to=None) -> dict:
    difference = {"kind": kind, "table": table, "column": column, "from": from_, "to": to}
    if name is not None:
        difference["name"] = name
    return difference
