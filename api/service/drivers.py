"""The driver the service's own engine connects with, whatever driver the application's uses.

Alembic's async template (``alembic init -t async``) migrates through an async driver
(``sqlite+aiosqlite``, ``postgresql+asyncpg``, ``mysql+asyncmy``): its env.py builds an async
engine from ``sqlalchemy.url`` and runs the chain inside ``asyncio.run()``. The service's own
connections (reads, the migration lock's admission connection, the operation log) run in a
request's thread, outside any event loop, where an async driver cannot be called (SQLAlchemy
raises ``MissingGreenlet``). So the service connects to the same database through the sync
driver of requirements.txt, and env.py keeps the URL it was given.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from api.config import ConfigurationError

# Each async driver SQLAlchemy ships, and the sync driver of the same database that the service
# has installed (requirements.txt): same server, same database, same credentials.
SYNC_DRIVERS = {
    "aiosqlite": "pysqlite",
    "asyncpg": "psycopg",
    "psycopg_async": "psycopg",
    "asyncmy": "pymysql",
    "aiomysql": "pymysql",
}


def sync_url(database_url: str) -> str:
    """``database_url`` with its async driver swapped for the sync one of the same database;
    any other URL unchanged (a malformed one too: creating the engine reports it).

    :raises ConfigurationError: an async driver the service has no sync counterpart for.
    """
    try:
        url = make_url(database_url)
        is_async = url.get_dialect().is_async
    except (ArgumentError, ImportError):
        return database_url
    if not is_async:
        return database_url
    sync = SYNC_DRIVERS.get(url.get_driver_name())
    if sync is None:
        raise ConfigurationError(
            f"DATABASE_URL uses the async driver '{url.get_driver_name()}', which the service "
            f"cannot connect with; known async drivers: {', '.join(sorted(SYNC_DRIVERS))}"
        )
    if url.get_driver_name() == "asyncpg" and "ssl" in url.query:
        # asyncpg's ssl= takes libpq's sslmode values under another name.
        url = url.difference_update_query(["ssl"]).update_query_dict({"sslmode": url.query["ssl"]})
    url = url.set(drivername=f"{url.get_backend_name()}+{sync}")
    return url.render_as_string(hide_password=False)
