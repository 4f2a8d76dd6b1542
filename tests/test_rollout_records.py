"""The rollout store's own writes, on each backend's store (rowcounts differ by dialect)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from api.service.oplog import OperationLog, Rollouts
from api.service.oplog.rollout_records import (
    INTERRUPTED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    Rollout,
    RolloutTarget,
)


@pytest.fixture
def store(database_url):
    """The rollouts of a fresh database's operation log, as DATABASE_URL's would be."""
    target = sa.create_engine(database_url)
    log = OperationLog(target)
    yield Rollouts(log)
    log.engine.dispose()
    target.dispose()


def test_interrupt_writes_a_running_target_alone(store):
    rollout = Rollout(action="upgrade", target="heads", actor="tester", parallelism=1,
                      on_failure="halt", waves="[1]")  # fmt: skip
    statuses = {"running": RUNNING, "done": SUCCEEDED, "waiting": PENDING}
    store.create(
        rollout,
        [
            RolloutTarget(rollout_id=rollout.id, name=name, wave=1, position=i, status=status)
            for i, (name, status) in enumerate(statuses.items())
        ],
    )
    assert store.interrupt(rollout.id, "running", "the process running it stopped (X)")
    # A target that ended (or never started) keeps what its own run wrote.
    assert not store.interrupt(rollout.id, "done", "late")
    assert not store.interrupt(rollout.id, "waiting", "late")
    # Written once: a second caller finds it no longer running.
    assert not store.interrupt(rollout.id, "running", "again")
    rows = {x.name: x for x in store.targets(rollout.id)}
    assert (rows["running"].status, rows["running"].error) == (
        INTERRUPTED,
        "the process running it stopped (X)",
    )
    assert rows["running"].finished_at is not None
    assert [(rows[n].status, rows[n].error) for n in ("done", "waiting")] == [
        (SUCCEEDED, None),
        (PENDING, None),
    ]
