"""The risk analyzer on the SQL Alembic really renders, per dialect: each code where it applies,
and no finding at all on changes that risk nothing (a false positive fails)."""

from __future__ import annotations

import ast

import pytest
import sqlalchemy as sa

from api.config import PROJECT_ROOT
from api.service.risk import analyze
from tests.risk_sql import found, not_null_age, offline, version_table_sql

ALL = ("postgresql", "mysql", "mariadb", "sqlite")
MYSQL = ("mysql", "mariadb")


@pytest.fixture(autouse=True)
def collect_garbage():
    """Replaces conftest's collection after each test: these cases are pure (the one engine a
    batch copy opens is disposed of), and a full collection after each of them would be most
    of this file's time."""
    yield


def unique_again(op):
    """Alembic's autogenerate when an index becomes unique: drop it, create it unique."""
    op.drop_index("ix_users_email", table_name="users")
    op.create_index("ix_users_email", "users", ["email"], unique=True)


# (name, dialects, change, expected findings as (code, severity, table, column, loss))
RISKY = [
    (
        "drop table",
        ALL,
        lambda op: op.drop_table("users"),
        [("DS102", "error", "users", None, "table")],
    ),
    (
        "drop column",
        ALL,
        lambda op: op.drop_column("users", "email"),
        [("DS103", "error", "users", "email", "column")],
    ),
    (
        "drop schema",
        ("postgresql",),
        lambda op: op.execute("DROP SCHEMA app CASCADE"),
        [("DS101", "error", None, None, "schema")],
    ),
    (
        "drop database",
        MYSQL,
        lambda op: op.execute("DROP DATABASE app"),
        [("DS101", "error", None, None, "schema")],
    ),
    (
        "rename table",
        ALL,
        lambda op: op.rename_table("users", "people"),
        [("BC101", "warning", "users", None, None)],
    ),
    (
        "rename column",
        ALL,
        lambda op: op.alter_column(
            "users", "name", new_column_name="full_name", existing_type=sa.String(50)
        ),
        [("BC102", "warning", "users", "name", None)],
    ),
    (
        "unique index",
        ("mysql", "mariadb", "sqlite"),
        lambda op: op.create_index("ix_users_email", "users", ["email"], unique=True),
        [("MF101", "warning", "users", "email", None)],
    ),
    (
        "unique index",
        ("postgresql",),
        lambda op: op.create_index("ix_users_email", "users", ["email"], unique=True),
        [("MF101", "warning", "users", "email", None), ("PG101", "warning", "users", None, None)],
    ),
    (
        "unique constraint",
        MYSQL,
        lambda op: op.create_unique_constraint("uq_users_email", "users", ["email"]),
        [("MF101", "warning", "users", "email", None)],
    ),
    (
        "unique constraint",
        ("postgresql",),
        lambda op: op.create_unique_constraint("uq_users_email", "users", ["email"]),
        [
            ("MF101", "warning", "users", "email", None),
            ("PG105", "warning", "users", "email", None),
        ],
    ),
    (
        "index made unique",
        ("mysql", "mariadb", "sqlite"),
        unique_again,
        [("MF102", "warning", "users", "email", None)],
    ),
    (
        "index made unique",
        ("postgresql",),
        unique_again,
        [
            ("PG102", "warning", None, None, None),
            ("MF102", "warning", "users", "email", None),
            ("PG101", "warning", "users", None, None),
        ],
    ),
    (
        "add not null",
        ("postgresql", "sqlite"),
        lambda op: op.add_column("users", not_null_age()),
        [("MF103", "warning", "users", "age", None)],
    ),
    (
        "add not null",
        MYSQL,
        lambda op: op.add_column("users", not_null_age()),
        [("MY101", "warning", "users", "age", None)],
    ),
    (
        "set not null",
        ("postgresql",),
        lambda op: op.alter_column("users", "email", nullable=False, existing_type=sa.String(50)),
        [
            ("MF104", "warning", "users", "email", None),
            ("PG303", "warning", "users", "email", None),
        ],
    ),
    (
        "set not null",
        MYSQL,
        lambda op: op.alter_column("users", "email", nullable=False, existing_type=sa.String(50)),
        [
            ("MY130", "warning", "users", "email", None),
            ("MF104", "warning", "users", "email", None),
        ],
    ),
    (
        "type change",
        ("postgresql",),
        lambda op: op.alter_column(
            "users", "email", type_=sa.String(200), existing_type=sa.String(50)
        ),
        [("PG301", "warning", "users", "email", None)],
    ),
    (
        "type change",
        MYSQL,
        lambda op: op.alter_column(
            "users", "email", type_=sa.String(200), existing_type=sa.String(50)
        ),
        [("MY130", "warning", "users", "email", None)],
    ),
    (
        "enum values removed",
        MYSQL,
        lambda op: op.alter_column(
            "users", "kind", type_=sa.Enum("a", "b"), existing_type=sa.Enum("a", "b", "c")
        ),
        [("MY130", "warning", "users", "kind", None)],
    ),
    (
        "index",
        ("postgresql",),
        lambda op: op.create_index("ix_users_email", "users", ["email"]),
        [("PG101", "warning", "users", None, None)],
    ),
    (
        "drop index",
        ("postgresql",),
        lambda op: op.drop_index("ix_users_email", table_name="users"),
        [("PG102", "warning", None, None, None)],
    ),
    (
        "primary key",
        ("postgresql",),
        lambda op: op.create_primary_key("pk_users", "users", ["id"]),
        [("PG104", "warning", "users", None, None)],
    ),
    (
        "volatile default",
        ("postgresql",),
        lambda op: op.add_column(
            "users", sa.Column("token", sa.Uuid(), server_default=sa.text("gen_random_uuid()"))
        ),
        [("PG302", "warning", "users", "token", None)],
    ),
    (
        "identity column",
        ("postgresql",),
        lambda op: op.add_column("users", sa.Column("n", sa.Integer(), sa.Identity())),
        [("PG302", "warning", "users", "n", None)],
    ),
    (
        "check",
        ("postgresql",),
        lambda op: op.create_check_constraint("ck_age", "users", "age > 0"),
        [("PG305", "warning", "users", None, None)],
    ),
    (
        "foreign key",
        ("postgresql",),
        lambda op: op.create_foreign_key("fk_posts_user", "posts", "users", ["user_id"], ["id"]),
        [("PG306", "warning", "posts", None, None)],
    ),
    (
        "foreign key",
        MYSQL,
        lambda op: op.create_foreign_key("fk_posts_user", "posts", "users", ["user_id"], ["id"]),
        [("MY131", "warning", "posts", None, None)],
    ),
]


@pytest.mark.parametrize(
    ("dialect", "change", "expected"),
    [
        pytest.param(dialect, change, expected, id=f"{name}-{dialect}")
        for name, dialects, change, expected in RISKY
        for dialect in dialects
    ],
)
def test_each_code_on_the_sql_alembic_renders(dialect, change, expected):
    assert found(analyze(offline(dialect, change), dialect)) == expected


def _create_concurrently(op):
    op.create_index("ix_users_email", "users", ["email"], postgresql_concurrently=True)


def _drop_concurrently(op):
    op.drop_index("ix_users_email", table_name="users", postgresql_concurrently=True)


def _in_autocommit_block(change):
    def run(op):
        with op.get_context().autocommit_block():
            change(op)

    return run


@pytest.mark.parametrize("change", [_create_concurrently, _drop_concurrently])
def test_an_index_changed_concurrently_inside_the_transaction_fails(change):
    """PostgreSQL refuses CREATE/DROP INDEX CONCURRENTLY in a transaction block: a revision
    that asks for it outside op.get_context().autocommit_block() fails when it runs (PG103)."""
    sql = offline("postgresql", change)
    # Alembic runs each PostgreSQL revision in a transaction: the step starts inside one.
    assert found(analyze(sql, "postgresql", in_transaction=True)) == [
        ("PG103", "error", "users" if change is _create_concurrently else None, None, None)
    ]
    assert found(analyze("BEGIN;\n" + sql, "postgresql")) == found(
        analyze(sql, "postgresql", in_transaction=True)
    )
    assert analyze(sql, "postgresql") == []  # no transaction open: it runs
    # In an autocommit block Alembic commits first, and opens the next transaction after it.
    block = offline("postgresql", _in_autocommit_block(change))
    assert "COMMIT;" in block and analyze(block, "postgresql", in_transaction=True) == []
    # Without CONCURRENTLY it runs, and locks: PG101/PG102. Elsewhere: nothing to say.
    plain = analyze(sql.replace("CONCURRENTLY ", ""), "postgresql", in_transaction=True)
    assert [f.code for f in plain] == ["PG101" if change is _create_concurrently else "PG102"]
    assert analyze(sql, "sqlite", in_transaction=True) == []


def test_a_concurrent_index_on_a_table_the_step_creates_still_fails_in_its_transaction():
    sql = offline(
        "postgresql",
        lambda op: (
            op.create_table(
                "t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("e", sa.Text)
            ),
            op.create_index("ix_t_e", "t", ["e"], postgresql_concurrently=True),
        ),
    )
    assert [f.code for f in analyze(sql, "postgresql", in_transaction=True)] == ["PG103"]
    assert analyze(sql, "postgresql") == []


@pytest.mark.parametrize(
    ("volatile", "rewrites"),
    [
        ("clock_timestamp()", True),
        ("random()", True),
        ("nextval('users_n_seq')", True),
        ("(floor(random() * 10))::integer", True),
        ("uuid_generate_v4()", True),
        # Only stable: PostgreSQL 11+ stores the value once, no rewrite.
        ("now()", False),
        ("CURRENT_TIMESTAMP", False),
        ("statement_timestamp()", False),
        ("'draft'", False),
    ],
)
def test_a_volatile_default_is_told_from_a_stable_one(volatile, rewrites):
    column = sa.Column("c", sa.Text(), server_default=sa.text(volatile))
    sql = offline("postgresql", lambda op: op.add_column("users", column))
    assert [f.code for f in analyze(sql, "postgresql")] == (["PG302"] if rewrites else [])


CLEAN = [
    (
        "create table",
        ALL,
        lambda op: op.create_table(
            "t",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("n", sa.String(5), nullable=False),
        ),
    ),
    ("add nullable column", ALL, lambda op: op.add_column("users", sa.Column("age", sa.Integer()))),
    (
        "add not null with default",
        ALL,
        lambda op: op.add_column(
            "users", sa.Column("age", sa.Integer(), nullable=False, server_default="0")
        ),
    ),
    (
        "index on a new table",
        ALL,
        lambda op: (
            op.create_table(
                "t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("e", sa.String(5))
            ),
            op.create_index("ix_t_e", "t", ["e"], unique=True),
        ),
    ),
    (
        "created then dropped",
        ALL,
        lambda op: (
            op.create_table("t", sa.Column("id", sa.Integer, primary_key=True)),
            op.drop_table("t"),
        ),
    ),
    (
        "index concurrently",
        ("postgresql",),
        lambda op: op.create_index(
            "ix_users_email", "users", ["email"], postgresql_concurrently=True
        ),
    ),
    (
        "drop index concurrently",
        ("postgresql",),
        lambda op: op.drop_index(
            "ix_users_email", table_name="users", postgresql_concurrently=True
        ),
    ),
    (
        "non-unique index",
        ("mysql", "mariadb", "sqlite"),
        lambda op: op.create_index("ix_e", "users", ["email"]),
    ),
    (
        "foreign key not valid",
        ("postgresql",),
        lambda op: op.create_foreign_key(
            "fk_posts_user", "posts", "users", ["user_id"], ["id"], postgresql_not_valid=True
        ),
    ),
    (
        "check not valid",
        ("postgresql",),
        lambda op: op.create_check_constraint(
            "ck_age", "users", "age > 0", postgresql_not_valid=True
        ),
    ),
    (
        "default now()",
        ("postgresql",),
        lambda op: op.add_column(
            "users", sa.Column("created", sa.DateTime(), server_default=sa.func.now())
        ),
    ),
    (
        "a ';' in a string",
        ALL,
        lambda op: op.execute("UPDATE users SET note = 'done; DROP TABLE users' WHERE id = 1"),
    ),
    (
        "constraints on a new table",
        ("postgresql",),
        lambda op: (
            op.create_table("t", sa.Column("id", sa.Integer), sa.Column("u", sa.Integer)),
            op.create_primary_key("pk_t", "t", ["id"]),
            op.create_foreign_key("fk_t_u", "t", "users", ["u"], ["id"]),
            op.add_column("t", sa.Column("n", sa.Integer(), nullable=False)),
        ),
    ),
]


@pytest.mark.parametrize(
    ("dialect", "change"),
    [
        pytest.param(dialect, change, id=f"{name}-{dialect}")
        for name, dialects, change in CLEAN
        for dialect in dialects
    ],
)
def test_clean_changes_have_no_finding(dialect, change):
    assert analyze(offline(dialect, change), dialect) == []


@pytest.mark.parametrize("dialect", ALL)
def test_the_version_table_and_transaction_have_no_finding(dialect):
    assert analyze(version_table_sql(), dialect) == []


def test_a_finding_names_its_statement_schema_and_says_a_sentence():
    sql = version_table_sql().replace(
        "COMMIT;",
        "-- Running downgrade b2 -> a1\n\nALTER TABLE app.users DROP COLUMN email;\n\nCOMMIT;",
    )
    [finding] = analyze(sql, "postgresql")
    assert finding.statement == "ALTER TABLE app.users DROP COLUMN email"
    assert (finding.schema, finding.table, finding.column, finding.loss) == (
        "app",
        "users",
        "email",
        "column",
    )
    assert finding.detail == "Drops column app.users.email and every value in it."


@pytest.mark.parametrize(
    ("dialect", "sql", "table", "column"),
    [
        ("postgresql", 'ALTER TABLE "User" DROP COLUMN "E-mail";', "User", "E-mail"),
        ("mysql", "ALTER TABLE `order` DROP COLUMN `key`;", "order", "key"),
        ("sqlite", 'ALTER TABLE "user" DROP COLUMN "group";', "user", "group"),
    ],
)
def test_quoted_names_come_back_as_they_are(dialect, sql, table, column):
    [finding] = analyze(sql, dialect)
    assert (finding.code, finding.table, finding.column) == ("DS103", table, column)


def test_every_risky_finding_has_its_statement_and_a_sentence():
    for _, dialects, change, _ in RISKY:
        for dialect in dialects:
            sql = offline(dialect, change)
            for finding in analyze(sql, dialect):
                assert finding.statement and finding.statement + ";" in sql
                assert finding.detail.endswith(".") and finding.detail.count(". ") == 0


def test_mysql_rename_table_statement_is_a_rename():
    sql = "RENAME TABLE users TO people, `posts` TO `articles`;"
    assert [(f.code, f.table) for f in analyze(sql, "mariadb")] == [
        ("BC101", "users"),
        ("BC101", "posts"),
    ]


def test_sql_the_parser_cannot_read_gives_no_finding_and_no_error():
    assert analyze("ALTER TABLE users ADD COLUMN (((;\nDROP TABLE", "postgresql") == []


@pytest.mark.parametrize(
    ("dialect", "sql", "expected"),
    [
        (
            "postgresql",
            'DROP SCHEMA IF EXISTS a, "B" CASCADE;',
            [("DS101", "a", None), ("DS101", "B", None)],
        ),
        (
            "postgresql",
            "DROP TABLE IF EXISTS a, app.b CASCADE;",
            [("DS102", None, "a"), ("DS102", "app", "b")],
        ),
        (
            "postgresql",
            "DROP INDEX app.ix_a, ix_b;",
            [("PG102", "app", None), ("PG102", None, None)],
        ),
        ("postgresql", "DROP INDEX CONCURRENTLY IF EXISTS ix_a;", []),
        ("postgresql", "ALTER TABLE app.users RENAME TO people;", [("BC101", "app", "users")]),
        ("mysql", "DROP SCHEMA app;", [("DS101", "app", None)]),
        ("mysql", "ALTER TABLE users ADD INDEX ix (email), ALGORITHM=INPLACE, LOCK=NONE;", []),
        ("mysql", "ALTER TABLE posts DROP FOREIGN KEY fk_posts_user;", []),
    ],
)
def test_hand_written_sql_of_op_execute(dialect, sql, expected):
    assert [(f.code, f.schema, f.table) for f in analyze(sql, dialect)] == expected


def test_the_analyzer_imports_neither_alembic_nor_flask():
    package = PROJECT_ROOT / "api" / "service" / "risk"
    imported = set()
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    assert imported <= {
        "__future__",
        "api",
        "collections",
        "dataclasses",
        "functools",
        "logging",
        "re",
        "sqlglot",
    }
