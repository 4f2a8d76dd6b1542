"""Drift: how the live schema differs from the models (api/service/model_drift.py) and from
the schema as the last operation left it (out-of-band changes, made by hand)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from api.service import schema_diff, schema_snapshot
from api.service.binds import DEFAULT
from api.service.database import describe_error, reachable
from api.service.model_drift import model_drift
from api.service.oplog import snapshots

if TYPE_CHECKING:
    from api.service import MigrationService

log = logging.getLogger(__name__)


def drift(svc: MigrationService) -> dict:
    """``{"models": {...}, "schema": {...}}``, each ``{"checked", "ok", "differences"}``
    (and a ``reason`` when not checked).

    :raises DatabaseUnavailable:
    """
    return {"models": model_drift(svc), "schema": schema_drift(svc)}


def schema_drift(svc: MigrationService) -> dict:
    """The live schema of each bind compared with the picture taken when the last operation
    on it ended: a column added by hand shows here, with or without models.

    :raises DatabaseUnavailable:
    """
    found: list[dict] = []
    missing = []
    for bind, engine in svc.binds.engines.items():
        recorded = snapshots.latest(svc.oplog, bind)
        if recorded is None or recorded.picture.get("format") != schema_snapshot.FORMAT:
            missing.append(bind)
            continue
        live = _picture(svc, engine)
        for difference in schema_diff.differences(recorded.picture, live):
            if svc.binds.multi:
                difference["bind"] = bind
            found.append(difference)
    if missing:
        where = ", ".join(f"bind '{b}'" for b in missing) if svc.binds.multi else "the database"
        return {
            "checked": False,
            "ok": False,
            "differences": found,
            "reason": f"No schema was recorded for {where} yet: one is recorded when an "
            "upgrade, downgrade or stamp ends.",
        }
    return {"checked": True, "ok": not found, "differences": found}


def record_schema(svc: MigrationService, operation_id: str) -> None:
    """Keep each bind's schema as the operation ``operation_id`` left it (succeeded or failed),
    the picture later reads compare with. Never fails the write: its answer stands."""
    for bind, engine in svc.binds.engines.items():
        try:
            snapshots.save(svc.oplog, bind, operation_id, _picture(svc, engine))
        except Exception as exc:  # the database went away, or a catalogue it cannot read
            log.warning(
                "the schema operation %s left was not recorded: %s",
                operation_id,
                describe_error(exc),
                extra={"operation_id": operation_id, **({"bind": bind} if bind != DEFAULT else {})},
            )


def _picture(svc: MigrationService, engine) -> dict:
    version = svc.version_table
    # The version table is the migrations' own (kept out of the picture only where it lives).
    exclude = {version.name} if version.schema is None else set()
    with reachable(engine), engine.connect() as conn:
        return schema_snapshot.take(conn, exclude)
