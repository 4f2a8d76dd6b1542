"""Each known false positive of Alembic's comparison (api/service/drift_rules.py), seen on the
backend where it happens: a column made from the model says it differs from that model."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from api.service.drift_rules import RULES, spelling
from api.service.model_drift import compare

# backend -> [(column name, the column as the database has it, as the model says it, rule)].
# A migration made from the model creates the first; the model is the second. None: the
# difference is real, and no rule may hide it.
CASES = {
    "sqlite": [
        ("empty", sa.String(10), sa.String(10), "default_spelling", "", ""),
        ("length", sa.String(100), sa.String(50), "sqlite_varchar_length", None, None),
        ("changed", sa.Integer(), sa.Integer(), None, "0", "1"),
    ],
    "postgresql": [
        ("single", sa.Float(precision=10), sa.Float(precision=10), "float_precision", None, None),
        ("wider", sa.Float(precision=10), sa.Float(precision=53), None, None, None),
        ("length", sa.String(100), sa.String(50), None, None, None),
    ],
    "mysql": [
        ("draft", sa.Boolean(), sa.Boolean(), "boolean_default", sa.false(), sa.false()),
        ("live", sa.Boolean(), sa.Boolean(), "boolean_default", sa.true(), sa.true()),
        ("stamp", sa.DateTime(), sa.DateTime(), "current_timestamp_spelling", sa.func.now(), None),
        ("price", sa.Numeric(6, 2), sa.Numeric(6, 2), "numeric_default", "1.5", "1.5"),
        ("ratio", sa.Float(precision=53), sa.Float(precision=53), "float_precision", None, None),
        ("since", sa.DateTime(), sa.DateTime(), "default_spelling", "2020-01-01 00:00:00", None),
        ("empty", sa.String(10), sa.String(10), "default_spelling", "", ""),
        ("changed", sa.Integer(), sa.Integer(), None, "0", "1"),
        ("length", sa.String(100), sa.String(50), None, None, None),
        ("flag", mysql.TINYINT(display_width=1), sa.Boolean(), None, "0", sa.true()),
    ],
}


def _table(metadata: sa.MetaData, cases: list[tuple], side: int) -> sa.Table:
    """The table as the database has it (side 0) or as the model says it (side 1)."""
    columns = [sa.Column("id", sa.Integer, primary_key=True)]
    for name, db_type, model_type, _rule, db_default, model_default in cases:
        default = db_default if side == 0 else model_default
        if side == 1 and default is None:
            default = db_default  # the model says what the migration wrote
        columns.append(
            sa.Column(name, db_type if side == 0 else model_type, server_default=default)
        )
    return sa.Table("facts", metadata, *columns)


def test_each_rule_hides_its_real_false_positive_and_nothing_more(backend, database_url):
    made, model = sa.MetaData(), sa.MetaData()
    _table(made, CASES[backend], 0)
    _table(model, CASES[backend], 1)
    engine = sa.create_engine(database_url)
    try:
        made.create_all(engine)
        with engine.connect() as conn:
            found = compare(conn, model, compare_type=True, compare_server_default=True)
    finally:
        engine.dispose()
    by_column = {}
    for difference in found:
        assert difference["table"] == "facts", difference
        by_column.setdefault(difference["column"], []).append(difference)
    for name, _db, _model, rule, _db_default, _model_default in CASES[backend]:
        assert name in by_column, f"Alembic no longer reports {name}: is {rule} still needed?"
        (difference,) = by_column.pop(name)
        assert difference["false_positive"] is (rule is not None), difference
        assert difference.get("rule") == rule, difference
    assert by_column == {}  # nothing else differs


def test_the_rule_table_is_covered_by_a_case():
    covered = {case[3] for cases in CASES.values() for case in cases}
    assert set(RULES) == covered - {None}


@pytest.mark.parametrize(
    ("sql", "spelled"),
    [
        ("('')", ""),
        ("'it''s'", "it's"),
        ("'abc'::character varying", "abc"),
        ("(CURRENT_TIMESTAMP)", "current_timestamp"),
        ("'ABC'", "ABC"),
        ("0", "0"),
    ],
)
def test_spelling_undoes_what_each_backend_adds(sql, spelled):
    assert spelling(sql) == spelled
