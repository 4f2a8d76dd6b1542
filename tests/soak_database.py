"""The soak test's database: audited revisions, and the target database and its operation
log read (and its lock holder's session killed) with SQLAlchemy, not through the service."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from api.service.lock import is_free
from tests.databases import operation_log
from tests.revision_graph import MigrationsDir

SLOW = 0.15  # seconds a revision sleeps on each side of its DDL, so a kill can land inside

# This database's advisory locks only: other tests share the server.
_TERMINATE_ADVISORY_HOLDERS = """
SELECT pg_terminate_backend(pid) FROM pg_locks
WHERE locktype = 'advisory' AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""

AUDIT = sa.Table(
    "audit",
    sa.MetaData(),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rev", sa.String(32), nullable=False),
    sa.Column("direction", sa.String(4), nullable=False),
    # When and by which server process the revision ran: evidence, when one ran twice.
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
)


def audited_chain(migrations: MigrationsDir, length: int) -> list[str]:
    """A linear chain; revision n inserts its audit row and then creates t_<rev> (its
    downgrade: its row, then the drop). MariaDB commits the row with the DDL (an implicit
    commit), so on every database the row is there exactly when the DDL ran."""
    revisions: list[str] = []
    for n in range(length):
        rev, table = f"s{n:011d}", f"t_s{n:011d}"
        create = f"op.create_table({table!r}, sa.Column('id', sa.Integer, primary_key=True))"
        migrations.add(
            rev,
            revisions[-1] if revisions else None,
            message=f"audited {n}",
            upgrade=_audited(rev, "up", create),
            downgrade=_audited(rev, "down", f"op.drop_table({table!r})"),
        )
        revisions.append(rev)
    return revisions


def _audited(rev: str, direction: str, ddl: str) -> str:
    values = f"'{rev}', '{direction}', '{{at}}', {{os.getpid()}}"
    return "\n".join(
        [
            "import os, time",
            "from datetime import datetime, timezone",
            "at = datetime.now(timezone.utc).isoformat(timespec='milliseconds')",
            f'op.execute(f"INSERT INTO audit (rev, direction, at, pid) VALUES ({values})")',
            f"time.sleep({SLOW})",
            ddl,
            f"time.sleep({SLOW})",
        ]
    )


class Database:
    """The target database and its operation log, read with SQLAlchemy, not the service."""

    def __init__(self, url: str):
        parsed = make_url(url)
        self.engine = sa.create_engine(url)
        self.backend = backend = parsed.get_backend_name()
        self.transactional_ddl = backend == "postgresql"
        log_url, schema = operation_log(url)
        if schema is None:  # read-only: never create the log's file before the service
            log_file = f"file:{log_url.database}?mode=ro&uri=true"
            self.log_engine, self.log_table = (
                sa.create_engine(f"sqlite:///{log_file}"),
                "operations",
            )
        else:
            self.log_engine, self.log_table = self.engine, f"{schema}.operations"

    def create_audit_table(self) -> None:
        with self.engine.begin() as conn:
            AUDIT.create(conn)

    def operations(self) -> list[dict]:
        try:
            with self.log_engine.connect() as conn:
                rows = conn.exec_driver_sql(f"SELECT * FROM {self.log_table}")
                return [dict(row._mapping) for row in rows]
        # No operation yet, no log: SQLite and MariaDB say OperationalError, PostgreSQL
        # ProgrammingError (UndefinedTable), seen when the first event came before any write.
        except (sa.exc.OperationalError, sa.exc.ProgrammingError):
            return []

    def audit(self) -> list[tuple]:
        """(seq, rev, direction, at, pid) of every audit row, in the order written."""
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(AUDIT.select().order_by(AUDIT.c.seq))]

    def state(self) -> tuple[set[str], set[str]]:
        """The version table's rows and the t_ tables present."""
        tables = set(sa.inspect(self.engine).get_table_names())
        version: set[str] = set()
        if "alembic_version" in tables:
            with self.engine.connect() as conn:
                rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version")
                version = {row[0] for row in rows}
        return version, {t for t in tables if t.startswith("t_")}

    def lock_free(self) -> bool:
        return is_free(self.engine)

    def kill_lock_holder(self) -> bool:
        """End the session that holds the migration lock, as an administrator or an idle
        timeout would, while its process lives on; False when no session holds it."""
        with self.engine.connect() as conn:
            if self.backend == "postgresql":
                ended = conn.exec_driver_sql(_TERMINATE_ADVISORY_HOLDERS).first()
                return ended is not None
            name = f"migrateway:{self.engine.url.database}"[:64]  # as api/service/lock.py
            holder = conn.execute(sa.text("SELECT IS_USED_LOCK(:n)"), {"n": name}).scalar()
            if holder:
                conn.exec_driver_sql(f"KILL CONNECTION {int(holder)}")
            return bool(holder)

    def wait_inside_a_revision(self, timeout: float) -> None:
        """Return once some operation is running a revision, or after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(
                op["status"] == "running" and op["running_revision"] for op in self.operations()
            ):
                return
            time.sleep(0.05)

    def __enter__(self) -> Database:
        self.create_audit_table()
        return self

    def __exit__(self, *exc) -> None:
        self.engine.dispose()
        self.log_engine.dispose()
