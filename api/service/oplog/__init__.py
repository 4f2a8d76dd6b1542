"""The operation log: every upgrade, downgrade and stamp, like Flyway's schema history.

It lives beside the target database but out of sight of the users' autogenerate (which
proposes to drop any table it does not know): in the schema ``migrateway`` on PostgreSQL,
in the database ``<name>_migrateway`` on MariaDB/MySQL, and in a sibling file for SQLite.
Every replica managing the same database therefore shares it, and it survives restarts.

    record.py     the Operation: table, row and object in one class
    store.py      where the log lives; its table made and kept up to date
    reads.py      what the log answers
    recording.py  OperationLog: the writes, on top of the reads
    unwritten.py  writes the database could not take yet
    deliveries.py webhook deliveries: what is to be sent, and how each attempt went
    rollout_records.py  rollouts and their targets, all of their state
"""

from api.service.oplog.deliveries import Deliveries, Delivery
from api.service.oplog.record import (
    FAILED,
    INTERRUPTED,
    QUEUED,
    REFUSED,
    RUNNING,
    SUCCEEDED,
    Operation,
    Progress,
)
from api.service.oplog.recording import OperationLog
from api.service.oplog.rollout_records import Rollout, Rollouts, RolloutTarget

__all__ = [
    "Deliveries",
    "Delivery",
    "FAILED",
    "INTERRUPTED",
    "QUEUED",
    "REFUSED",
    "RUNNING",
    "SUCCEEDED",
    "Operation",
    "OperationLog",
    "Progress",
    "Rollout",
    "RolloutTarget",
    "Rollouts",
]
