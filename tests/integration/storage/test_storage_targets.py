"""targets: synced from configuration, status kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from planwatch.config.settings import Secret, TargetSettings
from planwatch.errors import NotFound
from planwatch.storage import targets
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def settings(name: str, **kw: object) -> TargetSettings:
    return TargetSettings(name=name, engine="postgresql", dsn=Secret("host=x password=p"), **kw)  # type: ignore[arg-type]


def test_sync_upserts_and_disables_removed_targets(storage: Storage) -> None:
    targets.sync(storage, [settings("a", tags=("prod",)), settings("b")], T0)
    later = T0 + timedelta(minutes=5)
    targets.sync(storage, [settings("a", environment="prod", tags=("prod", "eu"))], later)

    a, b = targets.list_all(storage)
    assert (a.name, a.environment, a.tags, a.enabled) == ("a", "prod", ("prod", "eu"), True)
    assert (b.name, b.enabled, b.updated_at) == ("b", False, later)
    assert a.up is None and a.last_collected_at is None

    targets.sync(storage, [settings("a"), settings("b", enabled=True)], later)
    assert [x.enabled for x in targets.list_all(storage)] == [True, True]


def test_set_status(storage: Storage) -> None:
    targets.sync(storage, [settings("a")], T0)
    targets.set_status(storage, "a", up=True, error=None, at=T0 + timedelta(minutes=1))
    targets.set_status(
        storage, "a", up=False, error="connection refused", at=T0 + timedelta(minutes=2)
    )
    [a] = targets.list_all(storage)
    assert (a.up, a.last_error, a.last_collected_at) == (
        False,
        "connection refused",
        T0 + timedelta(minutes=1),
    )
    with pytest.raises(NotFound):
        targets.set_status(storage, "nope", up=True, error=None, at=T0)


def test_sync_with_no_targets_disables_all(storage: Storage) -> None:
    targets.sync(storage, [settings("a")], T0)
    targets.sync(storage, [], T0)
    assert [x.enabled for x in targets.list_all(storage)] == [False]
