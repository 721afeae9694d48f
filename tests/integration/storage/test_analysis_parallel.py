"""The analysis job analyses the targets it holds a few at a time on PostgreSQL storage (so
thousands finish inside the interval) and one at a time on SQLite (one writer)."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog

from planwatch.config.settings import (
    DEFAULT_JOBS,
    SchedulingSettings,
    Secret,
    Settings,
    TargetSettings,
)
from planwatch.jobs import analysis
from planwatch.jobs.deps import JobDeps
from planwatch.runtime import RuntimeState
from planwatch.scheduling.breaker import BreakerBoard
from planwatch.scheduling.spec import JobContext, JobSpec
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration

TARGETS = 12


class InFlight:
    """Wraps the real `analyze_target`, counting how many run at once."""

    def __init__(self, real: Any) -> None:
        self.real, self.now, self.most = real, 0, 0
        self.started: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, deps: JobDeps, target: TargetSettings, *args: Any) -> dict[str, object]:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.started.append(target.name)
        try:
            time.sleep(0.05)  # long enough for the others to start if they may
            result: dict[str, object] = self.real(deps, target, *args)
            return result
        finally:
            with self.lock:
                self.now -= 1


def _settings(storage: Storage) -> Settings:
    url = storage.engine.url.render_as_string(hide_password=False)
    targets = tuple(
        TargetSettings(name=f"t{i:02d}", engine="postgresql", dsn=Secret(f"postgresql://h/d{i}"),
                       enabled=f"t{i:02d}" != "t05")  # a disabled target is not analysed
        for i in range(TARGETS))
    return Settings(storage_url=Secret(url), targets=targets,
                    scheduling=SchedulingSettings(jobs=dict(DEFAULT_JOBS)))


def _run(storage: Storage, settings: Settings, state: RuntimeState | None = None) -> Any:
    state = state or RuntimeState(started_at=datetime.now(UTC) - timedelta(hours=1))
    with ThreadPoolExecutor(max_workers=16) as executor:
        deps = JobDeps(settings=settings, storage=storage, state=state,
                       breakers=BreakerBoard.from_settings(settings.scheduling),
                       executor=executor, worker_id="test-worker")
        spec = JobSpec(kind="analysis", name="analysis", settings=DEFAULT_JOBS["analysis"],
                       func=lambda ctx: analysis.analyze(deps, ctx))
        ctx = JobContext(run_id=None, spec=spec, scheduled_at=datetime.now(UTC), attempt=0,
                         log=structlog.get_logger("test"))
        return asyncio.run(analysis.analyze(deps, ctx))


def test_targets_are_analysed_a_few_at_a_time(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = InFlight(analysis.analyze_target)
    monkeypatch.setattr(analysis, "analyze_target", counter)
    outcome = _run(storage, _settings(storage))
    names = sorted(outcome.data["targets"])
    assert names == [f"t{i:02d}" for i in range(TARGETS) if i != 5]
    expected = analysis.PARALLEL if storage.dialect == "postgresql" else 1
    assert counter.most == expected


def test_a_failing_target_fails_the_run_with_its_error(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = analysis.analyze_target

    def broken(deps: JobDeps, target: TargetSettings, now: datetime) -> dict[str, object]:
        if target.name == "t03":
            raise RuntimeError("t03: analysis failed")
        return real(deps, target, now)

    monkeypatch.setattr(analysis, "analyze_target", broken)
    with pytest.raises(RuntimeError, match="t03: analysis failed"):
        _run(storage, _settings(storage))


def test_least_recently_analysed_targets_go_first(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run cut short by its timeout must not leave out the same targets every time."""
    counter = InFlight(analysis.analyze_target)
    monkeypatch.setattr(analysis, "analyze_target", counter)
    state = RuntimeState(started_at=datetime.now(UTC) - timedelta(hours=1))
    now = datetime.now(UTC)
    state.analysed_at.update({"t00": now, "t01": now - timedelta(minutes=5),
                              "t02": now - timedelta(minutes=10)})
    _run(storage, _settings(storage), state)
    never = [f"t{i:02d}" for i in range(3, TARGETS) if i != 5]
    if storage.dialect == "sqlite":  # one at a time: exactly this order
        assert counter.started == [*never, "t02", "t01", "t00"]
    else:  # a few at a time: the threads of one turn may start in any order
        assert set(counter.started[:-3]) == set(never)
        assert set(counter.started[-3:]) == {"t00", "t01", "t02"}
    assert min(state.analysed_at.values()) > now  # every analysed target is stamped
    assert sorted(state.analysed_at) == sorted([*never, "t00", "t01", "t02"])
