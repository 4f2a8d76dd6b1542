"""The bodies of the revisions tests/finding_project.py writes: op.* calls as autogenerate renders
them, in batch mode on SQLite (``lite``), with PostgreSQL's forms that do not lock (``pg``)."""

from __future__ import annotations


def pk(name: str, *columns: str) -> str:
    """op.create_table of ``name`` with an integer primary key and ``columns``."""
    listed = "".join(f"    {c},\n" for c in columns)
    return (
        f"op.create_table({name!r},\n    sa.Column('id', sa.Integer(), nullable=False),\n"
        f"{listed}    sa.PrimaryKeyConstraint('id'),\n)"
    )


def batch(table: str, *lines: str, recreate: str | None = None) -> str:
    """``lines`` (batch_op calls) in a batch_alter_table block, as render_as_batch writes it."""
    how = f", recreate={recreate!r}" if recreate else ""
    body = "".join(f"    batch_op.{line}\n" for line in lines)
    return f"with op.batch_alter_table({table!r}, schema=None{how}) as batch_op:\n{body}"


PLAN_NICKNAME = (
    "sa.Column('nickname', sa.String(length=50), nullable=True)",
    "sa.Column('plan', sa.String(length=20), nullable=True)",
)


def archive_table(archive: str) -> str:
    return (
        "op.create_table('old_events', sa.Column('id', sa.Integer(), nullable=False), "
        f"sa.PrimaryKeyConstraint('id'), schema={archive!r})"
    )


def drop_schema(pg: bool, archive: str) -> str:
    return f"op.execute('DROP SCHEMA {archive}{' CASCADE' if pg else ''}')"


def indexes(lite: bool) -> tuple[list[str], list[str]]:
    if lite:
        return (
            [
                # Index operations only: Alembic runs them without copying the table.
                batch(
                    "accounts",
                    "create_index('uq_accounts_email', ['email'], unique=True)",
                    "drop_index('ix_accounts_score')",
                    "create_index('ix_accounts_score', ['score'], unique=True)",
                ),
                batch("orders", "create_index('ix_orders_total', ['total'], unique=False)"),
            ],
            [
                batch("orders", "drop_index('ix_orders_total')"),
                batch(
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


def alters(lite: bool) -> tuple[list[str], list[str]]:
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
        return [batch("accounts", *up)], [batch("accounts", *down)]
    return (
        [f"op.alter_column('accounts', {line[len('alter_column(') :]}" for line in up],
        [f"op.alter_column('accounts', {line[len('alter_column(') :]}" for line in down],
    )


def constraints(lite: bool) -> tuple[list[str], list[str]]:
    if lite:
        return (
            [
                batch("links", "create_primary_key('pk_links', ['id'])"),
                batch(
                    "orders",
                    "create_check_constraint('ck_orders_total', 'total >= 0')",
                    "create_foreign_key('fk_orders_account', 'accounts', ['account_id'], ['id'])",
                ),
            ],
            [
                batch(
                    "orders",
                    "drop_constraint('fk_orders_account', type_='foreignkey')",
                    "drop_constraint('ck_orders_total', type_='check')",
                ),
                batch("links", "drop_constraint('pk_links', type_='primary')"),
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


def clean_end(pg: bool, lite: bool) -> tuple[list[str], list[str]]:
    column = "sa.Column('label_id', sa.Integer(), nullable=True)"
    up = [
        pk("labels"),
        batch("orders", f"add_column({column})") if lite else f"op.add_column('orders', {column})",
    ]
    down = [
        batch("orders", "drop_column('label_id')")
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
