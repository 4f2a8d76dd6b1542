"""A migrations directory whose revisions, between them, produce every finding code of a plan
on the backend it is written for, with clean revisions in between that must produce none.

Revisions are written as users write them: the op.* calls autogenerate renders, in batch mode
on SQLite where Alembic needs it (Flask-Migrate's render_as_batch), op.execute() where Alembic
has no operation (schemas), and the PostgreSQL idioms for changes that do not lock
(CREATE INDEX CONCURRENTLY in an autocommit block, constraints NOT VALID).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.finding_steps import (
    PLAN_NICKNAME,
    alters,
    archive_table,
    batch,
    clean_end,
    constraints,
    drop_schema,
    indexes,
    pk,
)
from tests.revision_graph import MigrationsDir

# In order; ("schema" and "rewrites" are written where the backend has them).
DATA, REFUSES, CLEAN, DROPS_COLUMNS, KEEPS, DROPS_TABLES = (
    f"c0de000000{i:02}" for i in range(1, 7)
)
DROPS_SCHEMA, READS, INDEXES, ALTERS, REWRITES, EMPTY = (f"c0de000000{i:02}" for i in range(7, 13))
RENAMES, CONSTRAINTS, CLEAN_END, CONCURRENT = (f"c0de000000{i:02}" for i in range(13, 17))

ACCOUNTS = [  # id, email, nickname (all NULL), plan, score, legacy (one NULL)
    (1, "ada@example.org", None, "pro", 10, "a"),
    (2, "bob@example.org", None, "free", 20, None),
    (3, "cy@example.org", None, "free", 30, "c"),
]


def _revisions(backend: str, archive: str | None) -> list[tuple[str, str, str, str]]:
    """(revision, message, upgrade, downgrade) of each revision written for ``backend``."""
    pg, lite = backend == "postgresql", backend == "sqlite"

    def on(table: str, sqlite_lines: list[str], lines: list[str], **options) -> str:
        return batch(table, *sqlite_lines, **options) if lite else "\n".join(lines)

    accounts = pk(
        "accounts",
        "sa.Column('email', sa.String(length=100), nullable=True)",
        "sa.Column('nickname', sa.String(length=50), nullable=True)",
        "sa.Column('plan', sa.String(length=20), nullable=True)",
        "sa.Column('score', sa.Integer(), nullable=True)",
        "sa.Column('legacy', sa.String(length=20), nullable=True)",
    )
    data_up = [
        accounts,
        on(
            "accounts",
            ["create_index('ix_accounts_score', ['score'], unique=False)"],
            ["op.create_index('ix_accounts_score', 'accounts', ['score'], unique=False)"],
        ),
        pk(
            "orders",
            "sa.Column('account_id', sa.Integer(), nullable=True)",
            "sa.Column('total', sa.Integer(), nullable=True)",
        ),
        pk("events", "sa.Column('payload', sa.String(length=100), nullable=True)"),
        pk("drafts"),
        pk("empty_things"),
        pk("legacy_notes", "sa.Column('body', sa.String(length=100), nullable=True)"),
        "op.create_table('links', sa.Column('id', sa.Integer(), nullable=False))",
    ]
    tables = ("links", "legacy_notes", "empty_things", "drafts", "events", "orders", "accounts")
    data_down = [f"op.drop_table({t!r})" for t in tables]
    if archive:
        data_up += [f"op.execute('CREATE SCHEMA {archive}')", archive_table(archive)]
        data_down += [f"op.drop_table('old_events', schema={archive!r})", drop_schema(pg, archive)]

    concurrently = (
        "with op.get_context().autocommit_block():\n    op.{}_index('ix_accounts_email', "
    )
    clean_up = [
        pk("tags", "sa.Column('name', sa.String(length=30), nullable=True)"),
        on(
            "accounts",
            [
                "add_column(sa.Column('bio', sa.Text(), nullable=True))",
                "add_column(sa.Column('status', sa.String(length=10), server_default='new', "
                "nullable=False))",
            ],
            [
                "op.add_column('accounts', sa.Column('bio', sa.Text(), nullable=True))",
                "op.add_column('accounts', sa.Column('status', sa.String(length=10), "
                "server_default='new', nullable=False))",
            ],
        ),
    ]
    clean_down = [
        on(
            "accounts",
            ["drop_column('status')", "drop_column('bio')"],
            ["op.drop_column('accounts', 'status')", "op.drop_column('accounts', 'bio')"],
        ),
        "op.drop_table('tags')",
    ]
    if pg:
        clean_up.append(
            concurrently.format("create") + "'accounts', ['email'], postgresql_concurrently=True)"
        )
        clean_down.insert(
            0,
            concurrently.format("drop") + "table_name='accounts', postgresql_concurrently=True)",
        )

    revisions = [(DATA, "accounts and more", data_up, data_down)]
    if pg:
        # An index built CONCURRENTLY as it should be, in an autocommit block, and dropped
        # CONCURRENTLY inside the revision's transaction, which PostgreSQL refuses (PG103).
        # It comes before REFUSES: the rollbacks the tests run stop before its downgrade.
        revisions.append(
            (
                CONCURRENT,
                "orders by account",
                [
                    "with op.get_context().autocommit_block():\n    op.create_index("
                    "'ix_orders_account', 'orders', ['account_id'], postgresql_concurrently=True)"
                ],
                [
                    "op.drop_index('ix_orders_account', table_name='orders', "
                    "postgresql_concurrently=True)"
                ],
            )
        )
    revisions += [
        (REFUSES, "ledger", [pk("ledger")], ["raise NotImplementedError('the ledger stays')"]),
        (CLEAN, "tags bio status", clean_up, clean_down),
        (
            DROPS_COLUMNS,
            "drop plan and nickname",
            [
                on(
                    "accounts",
                    ["drop_column('plan')", "drop_column('nickname')"],
                    [
                        "op.drop_column('accounts', 'plan')",
                        "op.drop_column('accounts', 'nickname')",
                    ],
                )
            ],
            [
                on(
                    "accounts",
                    [f"add_column({c})" for c in PLAN_NICKNAME],
                    [f"op.add_column('accounts', {c})" for c in PLAN_NICKNAME],
                )
            ],
        ),
        (KEEPS, "audit kept on rollback", [pk("audit")], ["pass"]),
        (
            DROPS_TABLES,
            "drop events and drafts",
            ["op.drop_table('events')", "op.drop_table('drafts')"],
            [pk("drafts"), pk("events", "sa.Column('payload', sa.String(length=100))")],
        ),
    ]
    if archive:
        revisions.append(
            (
                DROPS_SCHEMA,
                "drop the archive",
                [drop_schema(pg, archive)],
                [f"op.execute('CREATE SCHEMA {archive}')", archive_table(archive)],
            )
        )
    revisions += [
        (
            READS,
            "backfill scores",
            [
                "top = op.get_bind().execute(sa.text('SELECT max(score) FROM accounts')).scalar()",
                "op.execute(sa.text(f'UPDATE accounts SET score = {top} WHERE score IS NULL'))",
            ],
            ["pass"],
        ),
        (INDEXES, "unique emails and scores", *indexes(lite)),
        (ALTERS, "score bigint email required handle", *alters(lite)),
    ]
    if pg:
        rank = "sa.Column('rank', sa.Float(), server_default=sa.text('random()'), nullable=False)"
        revisions.append(
            (
                REWRITES,
                "random rank",
                [f"op.add_column('accounts', {rank})"],
                ["op.drop_column('accounts', 'rank')"],
            )
        )
    label = "sa.Column('label', sa.String(length=20), nullable=False)"
    revisions += [
        (
            EMPTY,
            "required label",
            [
                on(
                    "empty_things",
                    [f"add_column({label})"],
                    [f"op.add_column('empty_things', {label})"],
                    recreate="always",
                )
            ],
            [
                on(
                    "empty_things",
                    ["drop_column('label')"],
                    ["op.drop_column('empty_things', 'label')"],
                )
            ],
        ),
        (
            RENAMES,
            "notes",
            ["op.rename_table('legacy_notes', 'notes')"],
            ["op.rename_table('notes', 'legacy_notes')"],
        ),
        (CONSTRAINTS, "keys and checks", *constraints(lite)),
        (CLEAN_END, "labels", *clean_end(pg, lite)),
    ]
    return [(r, m, "\n".join(up), "\n".join(down)) for r, m, up, down in revisions]


def write_project(path: Path, backend: str, archive: str | None) -> list[str]:
    """Write the directory for ``backend`` (``archive``: the schema it may drop, or None);
    return its revisions in order."""
    migrations = MigrationsDir(path)
    previous = None
    for revision, message, upgrade, downgrade in _revisions(backend, archive):
        migrations.add(revision, previous, message=message, upgrade=upgrade, downgrade=downgrade)
        previous = revision
    return [r for r, *_ in _revisions(backend, archive)]


def fill(url: str, archive: str | None) -> None:
    """Rows in the tables DATA creates: some columns filled, some all NULL, some tables empty."""
    engine = sa.create_engine(url)
    insert = "INSERT INTO {} VALUES ({})"
    rows = {
        "accounts": ACCOUNTS,
        "orders": [(1, 1, 5), (2, 2, 7)],
        "events": [(1, "signup"), (2, "login")],
        "legacy_notes": [(1, "hello")],
        "links": [(1,), (2,)],
    }
    if archive:
        rows[f"{archive}.old_events"] = [(1,)]
    try:
        with engine.begin() as conn:
            for table, values in rows.items():
                marks = ", ".join(f":v{i}" for i in range(len(values[0])))
                params = [{f"v{i}": v for i, v in enumerate(row)} for row in values]
                conn.execute(sa.text(insert.format(table, marks)), params)
    finally:
        engine.dispose()
