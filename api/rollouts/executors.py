"""Where a rollout's targets run: a pool of processes inside the service, or Celery workers.

Either way a target runs through :func:`api.rollouts.job.run_target` in a process of its own
(Alembic's ``context`` is process-global: threads cannot run two migrations at once in one
process), and its outcome is written to the rollout store by that process, never handed back:
the coordinator reads the store, so a lost worker or a lost result leaves nothing unknown.
"""

from __future__ import annotations

from typing import Protocol


class Executor(Protocol):
    """Runs ``job.run_target(rollout_id, name)`` somewhere, some time soon."""

    def submit(self, rollout_id: str, name: str) -> None:
        """Queue one target of a rollout; return at once."""

    def shutdown(self) -> None:
        """Stop taking work; let what runs finish."""
