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

from tests.revision_graph import MigrationsDir

# In order; ("schema" and "rewrites" are written where the backend has them).
DATA, REFUSES, CLEAN, DROPS_COLUMNS, KEEPS, DROPS_TABLES = (
    f"c0de000000{i:02}" for i in range(1, 7)
)
DROPS_SCHEMA, READS, INDEXES, ALTERS, REWRITES, EMPTY = (f"c0de000000{i:02}" for i in range(7, 13))
RENAMES, CONSTRAINTS, CLEAN_END = (f"c0de000000{i:02}" for i in range(13, 16))

ACCOUNTS = [  # id, email, nickname (all NULL), plan, score, legacy (one NULL)
    (1, "ada@example.org", None, "pro", 10, "a"),
    (2, "bob@example.org", None, "free", 20, None),
    (3, "cy@example.org", None, "free", 30, "c"),
]


def _pk(name: str, *columns: str) -> str:
    listed = "".join(f"    {c},\n" for c in columns)
    return (
        f"op.create_table({name!r},\n    sa.Column('id', sa.Integer(), nullable=False),\n"
        f"{listed}    sa.PrimaryKeyConstraint('id'),\n)"
    )


def _batch(table: str, *lines: str, recreate: str | None = None) -> str:
    how = f", recreate={recreate!r}" if recreate else ""
    body = "".join(f"    batch_op.{line}\n" for line in lines)
    return f"with op.batch_alter_table({table!r}, schema=None{how}) as batch_op:\n{body}"


def _revisions(backend: str, archive: str | None) -> list[tuple[str, str, str, str]]:
    """(revision, message, upgrade, downgrade) of each revision written for ``backend``."""
    pg, lite = backend == "postgresql", backend == "sqlite"

    def on(table: str, sqlite_lines: list[str], lines: list[str], **batch) -> str:
        return _batch(table, *sqlite_lines, **batch) if lite else "\n".join(lines)

    accounts = _pk(
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
        _pk(
            "orders",
            "sa.Column('account_id', sa.Integer(), nullable=True)",
            "sa.Column('total', sa.Integer(), nullable=True)",
        ),
        _pk("events", "sa.Column('payload', sa.String(length=100), nullable=True)"),
        _pk("drafts"),
        _pk("empty_things"),
        _pk("legacy_notes", "sa.Column('body', sa.String(length=100), nullable=True)"),
        "op.create_table('links', sa.Column('id', sa.Integer(), nullable=False))",
    ]
    tables = ("links", "legacy_notes", "empty_things", "drafts", "events", "orders", "accounts")
    data_down = [f"op.drop_table({t!r})" for t in tables]
    if archive:
        data_up += [f"op.execute('CREATE SCHEMA {archive}')", _archive_table(archive)]
        data_down += [f"op.drop_table('old_events', schema={archive!r})", _drop_schema(pg, archive)]

    concurrently = (
        "with op.get_context().autocommit_block():\n    op.{}_index('ix_accounts_email', "
    )
    clean_up = [
        _pk("tags", "sa.Column('name', sa.String(length=30), nullable=True)"),
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

    revisions = [
        (DATA, "accounts and more", data_up, data_down),
        (REFUSES, "ledger", [_pk("ledger")], ["raise NotImplementedError('the ledger stays')"]),
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
                    [f"add_column({c})" for c in _PLAN_NICKNAME],
                    [f"op.add_column('accounts', {c})" for c in _PLAN_NICKNAME],
                )
            ],
        ),
        (KEEPS, "audit kept on rollback", [_pk("audit")], ["pass"]),
        (
            DROPS_TABLES,
            "drop events and drafts",
            ["op.drop_table('events')", "op.drop_table('drafts')"],
            [_pk("drafts"), _pk("events", "sa.Column('payload', sa.String(length=100))")],
        ),
    ]
    if archive:
        revisions.append(
            (
                DROPS_SCHEMA,
                "drop the archive",
                [_drop_schema(pg, archive)],
                [f"op.execute('CREATE SCHEMA {archive}')", _archive_table(archive)],
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
        (INDEXES, "unique emails and scores", *_indexes(lite)),
        (ALTERS, "score bigint email required handle", *_alters(lite)),
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
        (CONSTRAINTS, "keys and checks", *_constraints(lite)),
        (CLEAN_END, "labels", *_clean_end(pg, lite)),
    ]
    return [(r, m, "\n".join(up), "\n".join(down)) for r, m, up, down in revisions]


_PLAN_NICKNAME = (
    "sa.Column('nickname', sa.String(length=50), nullable=True)",
    "sa.Column('plan', sa.String(length=20), nullable=True)",
)


def _archive_table(archive: str) -> str:
    return (
        "op.create_table('old_events', sa.Column('id', sa.Integer(), nullable=False), "
        f"sa.PrimaryKeyConstraint('id'), schema={archive!r})"
    )


def _drop_schema(pg: bool, archive: str) -> str:
    return f"op.execute('DROP SCHEMA {archive}{' CASCADE' if pg else ''}')"


def _indexes(lite: bool) -> tuple[list[str], list[str]]:
    if lite:
        return (
            [
                # Index operations only: Alembic runs them without copying the table.
                _batch(
                    "accounts",
                    "create_index('uq_accounts_email', ['email'], unique=True)",
                    "drop_index('ix_accounts_score')",
                    "create_index('ix_accounts_score', ['score'], unique=True)",
                ),
                _batch("orders", "create_index('ix_orders_total', ['total'], unique=False)"),
            ],
            [
                _batch("orders", "drop_index('ix_orders_total')"),
                _batch(
                    "accounts",
                    "drop_index('ix_accounts_score')",
                    "create_index('ix_accounts_score', ['score'], unique=False)",
                    "drop_index('uq_accounts_email')",
                ),
            ],
        )
    return (
        [
            "op.create_unique_constraint('uq_accounts_email', 'accounts', ['email'])",
            "op.drop_index('ix_accounts_score', table_name='accounts')",
            "op.create_index('ix_accounts_score', 'accounts', ['score'], unique=True)",
            "op.create_index('ix_orders_total', 'orders', ['total'], unique=False)",
        ],
        [
            "op.drop_index('ix_orders_total', table_name='orders')",
            "op.drop_index('ix_accounts_score', table_name='accounts')",
            "op.create_index('ix_accounts_score', 'accounts', ['score'], unique=False)",
            "op.drop_constraint('uq_accounts_email', 'accounts', type_='unique')",
        ],
    )


def _alters(lite: bool) -> tuple[list[str], list[str]]:
    up = [
        "alter_column('score', existing_type=sa.Integer(), type_=sa.BigInteger(), "
        "existing_nullable=True)",
        "alter_column('email', existing_type=sa.String(length=100), nullable=False)",
        "alter_column('legacy', new_column_name='handle', existing_type=sa.String(length=20), "
        "existing_nullable=True)",
    ]
    down = [
        "alter_column('handle', new_column_name='legacy', existing_type=sa.String(length=20), "
        "existing_nullable=True)",
        "alter_column('email', existing_type=sa.String(length=100), nullable=True)",
        "alter_column('score', existing_type=sa.BigInteger(), type_=sa.Integer(), "
        "existing_nullable=True)",
    ]
    if lite:
        return [_batch("accounts", *up)], [_batch("accounts", *down)]
    return (
        [f"op.alter_column('accounts', {line[len('alter_column(') :]}" for line in up],
        [f"op.alter_column('accounts', {line[len('alter_column(') :]}" for line in down],
    )


def _constraints(lite: bool) -> tuple[list[str], list[str]]:
    if lite:
        return (
            [
                _batch("links", "create_primary_key('pk_links', ['id'])"),
                _batch(
                    "orders",
                    "create_check_constraint('ck_orders_total', 'total >= 0')",
                    "create_foreign_key('fk_orders_account', 'accounts', ['account_id'], ['id'])",
                ),
            ],
            [
                _batch(
                    "orders",
                    "drop_constraint('fk_orders_account', type_='foreignkey')",
                    "drop_constraint('ck_orders_total', type_='check')",
                ),
                _batch("links", "drop_constraint('pk_links', type_='primary')"),
            ],
        )
    return (
        [
            "op.create_primary_key('pk_links', 'links', ['id'])",
            "op.create_check_constraint('ck_orders_total', 'orders', 'total >= 0')",
            "op.create_foreign_key('fk_orders_account', 'orders', 'accounts', ['account_id'], "
            "['id'])",
        ],
        [
            "op.drop_constraint('fk_orders_account', 'orders', type_='foreignkey')",
            "op.drop_constraint('ck_orders_total', 'orders', type_='check')",
            "op.drop_constraint('pk_links', 'links', type_='primary')",
        ],
    )


def _clean_end(pg: bool, lite: bool) -> tuple[list[str], list[str]]:
    column = "sa.Column('label_id', sa.Integer(), nullable=True)"
    up = [
        _pk("labels"),
        _batch("orders", f"add_column({column})") if lite else f"op.add_column('orders', {column})",
    ]
    down = [
        _batch("orders", "drop_column('label_id')")
        if lite
        else "op.drop_column('orders', 'label_id')",
        "op.drop_table('labels')",
    ]
    if pg:  # the forms that do not scan or lock the table: NOT VALID, validated later
        up += [
            "op.create_foreign_key('fk_orders_label', 'orders', 'labels', ['label_id'], ['id'], "
            "postgresql_not_valid=True)",
            "op.create_check_constraint('ck_orders_label', 'orders', 'label_id > 0', "
            "postgresql_not_valid=True)",
        ]
        down[:0] = [
            "op.drop_constraint('ck_orders_label', 'orders', type_='check')",
            "op.drop_constraint('fk_orders_label', 'orders', type_='foreignkey')",
        ]
    return up, down


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
