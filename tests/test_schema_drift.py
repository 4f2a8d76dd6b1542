"""Out-of-band drift: the schema each write leaves is recorded, and what was changed by hand
since shows up without any models (svc.drift()["schema"])."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from api import exceptions
from api.service.oplog import snapshots
from tests.revision_graph import MigrationsDir

TEAM, ACCOUNT, BREAKS = "abab00000001", "abab00000002", "abab00000003"

CREATE = """
op.create_table('team', sa.Column('id', sa.Integer, primary_key=True))
op.create_table(
    'account',
    sa.Column('id', sa.Integer, primary_key=True),
    sa.Column('email', sa.String(100), nullable=False, unique=True),
    sa.Column('team_id', sa.Integer, sa.ForeignKey('team.id', name='fk_account_team')),
    sa.Column('nick', sa.String(20)),
)
op.create_index('ix_account_nick', 'account', ['nick'])
"""


@pytest.fixture
def migrations(tmp_path):
    """Two tables with a unique constraint, a foreign key and an index; then a revision that
    creates a table and fails."""
    made = MigrationsDir(tmp_path / "migrations")
    made.add(TEAM, None, message="team", upgrade="pass", downgrade="pass")
    made.add(ACCOUNT, TEAM, message="account", upgrade=CREATE, downgrade="pass")
    made.add(
        BREAKS,
        ACCOUNT,
        message="breaks",
        upgrade="op.create_table('left', sa.Column('id', sa.Integer, primary_key=True))\n"
        "raise RuntimeError('broken on purpose')",
        downgrade="pass",
    )
    return made


def by_hand(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for sql in statements:
                conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def kinds(found: dict) -> list[tuple]:
    return [(d["kind"], d["table"], d["column"] or d.get("name")) for d in found["differences"]]


def test_hand_made_changes_show_and_the_next_write_records_the_schema(app, database_url):
    svc = app.extensions["migrateway"]
    with app.app_context():
        assert svc.drift()["schema"]["checked"] is False  # nothing recorded yet
        svc.upgrade(ACCOUNT)
        assert svc.drift()["schema"] == {"checked": True, "ok": True, "differences": []}

        by_hand(
            database_url,
            "CREATE TABLE handmade (id INTEGER PRIMARY KEY)",
            "CREATE INDEX ix_account_email ON account (email)",
            "DROP INDEX ix_account_nick" + (" ON account" if "mysql" in database_url else ""),
            "ALTER TABLE account ADD COLUMN note VARCHAR(40)",
        )
        found = svc.drift()["schema"]
        assert found["checked"] is True and found["ok"] is False
        assert svc.verify()["ok"] is False  # every file is as applied: the drift says no
        assert sorted(kinds(found)) == [
            ("column_added", "account", "note"),
            ("index_added", "account", "ix_account_email"),
            ("index_removed", "account", "ix_account_nick"),
            ("table_added", "handmade", None),
        ]
        removed = next(d for d in found["differences"] if d["kind"] == "index_removed")
        assert removed["from"] == {"columns": ["nick"], "unique": False}

        # A failed write records the schema it left too: what it left is no drift.
        with pytest.raises(exceptions.MigrationFailed):
            svc.upgrade(BREAKS)
        (failed,), _total = svc.operations(limit=1)
        assert failed.status == "failed"
        recorded = snapshots.latest(svc.oplog, "default")
        assert recorded.operation_id == failed.id
        assert svc.drift()["schema"] == {"checked": True, "ok": True, "differences": []}


def test_a_column_changed_and_a_key_dropped_by_hand(app, database_url, network_only):
    svc = app.extensions["migrateway"]
    mariadb = "mysql" in database_url
    with app.app_context():
        svc.upgrade(ACCOUNT)
        by_hand(
            database_url,
            "ALTER TABLE account "
            + ("MODIFY nick VARCHAR(20) NOT NULL" if mariadb else "ALTER nick SET NOT NULL"),
            "ALTER TABLE account DROP "
            + ("FOREIGN KEY" if mariadb else "CONSTRAINT")
            + " fk_account_team",
            "DROP TABLE team",
        )
        found = svc.drift()["schema"]
    assert found["ok"] is False
    assert sorted(kinds(found)) == [
        ("column_changed", "account", "nick"),
        ("foreign_key_removed", "account", "fk_account_team"),
        ("table_removed", "team", None),
    ]
    changed = next(d for d in found["differences"] if d["kind"] == "column_changed")
    assert (changed["from"], changed["to"]) == ({"nullable": True}, {"nullable": False})
    gone = next(d for d in found["differences"] if d["kind"] == "foreign_key_removed")
    assert gone["from"]["referred_table"] == "team" and gone["from"]["columns"] == ["team_id"]
