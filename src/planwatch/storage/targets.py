"""Monitored targets as synced from the configuration, with their last known state.

Targets removed from the configuration are kept (their history still points at them) but
marked disabled. DSNs are not stored: they may carry secrets. The state (up/down, last error,
whether it was fatal, the last poll's collector health) lives here rather than in a worker's
memory, so whichever worker holds the target's lease next, and every worker serving
/health/ready, reads the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from planwatch.config.settings import TargetSettings
from planwatch.errors import NotFound
from planwatch.model.samples import CollectorHealth
from planwatch.storage import _sql
from planwatch.storage.engine import Storage
from planwatch.storage.tables import targets as t


@dataclass(frozen=True, slots=True)
class TargetRecord:
    name: str
    engine: str
    environment: str
    tags: tuple[str, ...]
    enabled: bool
    up: bool | None  # None: never checked
    last_error: str | None
    last_collected_at: datetime | None
    updated_at: datetime
    status_at: datetime | None = None
    fatal: bool = False  # misconfigured (extension missing, bad credentials): retrying won't help
    health: CollectorHealth | None = None  # of the last successful poll


def sync(st: Storage, targets: Sequence[TargetSettings], now: datetime) -> None:
    """Make the table match the configuration (upsert by name, disable the missing)."""
    rows = [
        {
            "name": x.name,
            "engine": x.engine,
            "environment": x.environment,
            "tags": list(x.tags),
            "enabled": x.enabled,
            "created_at": now,
            "updated_at": now,
        }
        for x in sorted(targets, key=lambda x: x.name)
    ]
    names = [r["name"] for r in rows]
    with st.begin() as conn:
        _sql.upsert(
            conn,
            t,
            rows,
            keys=("name",),
            update=("engine", "environment", "tags", "enabled", "updated_at"),
        )
        gone = sa.update(t).where(t.c.enabled.is_(True)).values(enabled=False, updated_at=now)
        if names:
            gone = gone.where(t.c.name.not_in(names))
        conn.execute(gone)


def set_status(
    st: Storage, name: str, *, up: bool, error: str | None, at: datetime, fatal: bool = False,
    health: CollectorHealth | None = None,
) -> None:
    """Record the outcome of the latest contact with the target (a success clears the error
    and stores the poll's collector health)."""
    with st.begin() as conn:
        record_status(conn, name, up=up, error=error, at=at, fatal=fatal, health=health)


def record_status(
    conn: sa.Connection, name: str, *, up: bool, error: str | None, at: datetime,
    fatal: bool = False, health: CollectorHealth | None = None,
) -> None:
    """`set_status` inside the caller's transaction (a poll's samples and its status)."""
    values: dict[str, Any] = {"up": up, "last_error": error, "status_at": at, "fatal": fatal}
    if up:
        values["last_collected_at"] = at
        values["health"] = _health_json(health) if health else None
    done = conn.execute(_SET_UP if up else _SET_DOWN, {"target_name": name, **_sql.params(values)})
    if done.rowcount == 0:
        raise NotFound(f"target {name!r} is not known to storage; sync targets first")


_STATUS = ("up", "last_error", "status_at", "fatal")
_SET_DOWN = sa.update(t).where(t.c.name == sa.bindparam("target_name")).values(
    _sql.bound(t, _STATUS))
_SET_UP = sa.update(t).where(t.c.name == sa.bindparam("target_name")).values(
    _sql.bound(t, (*_STATUS, "last_collected_at", "health")))


def list_all(st: Storage) -> list[TargetRecord]:
    with st.connect() as conn:
        return [_from_row(r) for r in conn.execute(sa.select(t).order_by(t.c.name))]


def get(st: Storage, name: str) -> TargetRecord | None:
    with st.connect() as conn:
        row = conn.execute(sa.select(t).where(t.c.name == name)).one_or_none()
    return _from_row(row) if row is not None else None


def _health_json(h: CollectorHealth) -> dict[str, Any]:
    out = {k: getattr(h, k) for k in _HEALTH_FIELDS}
    out["at"] = h.at.isoformat()
    out["warnings"] = list(h.warnings)
    return out


def _health(data: dict[str, Any] | None, target: str) -> CollectorHealth | None:
    if not data:
        return None
    return CollectorHealth(target=target, at=datetime.fromisoformat(data["at"]),
                           warnings=tuple(data.get("warnings", ())),
                           **{k: data[k] for k in _HEALTH_FIELDS if k in data})


_HEALTH_FIELDS = ("entries", "max_entries", "evicted", "reset", "restarted", "missed_polls",
                  "first_poll")


def _from_row(row: Any) -> TargetRecord:
    return TargetRecord(
        name=row.name,
        engine=row.engine,
        environment=row.environment,
        tags=tuple(row.tags or ()),
        enabled=row.enabled,
        up=row.up,
        last_error=row.last_error,
        last_collected_at=row.last_collected_at,
        updated_at=row.updated_at,
        status_at=row.status_at,
        fatal=bool(row.fatal),
        health=_health(row.health, row.name),
    )
