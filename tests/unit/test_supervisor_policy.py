"""The supervisor's decisions: how many workers, their names, ports and environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from planwatch.config.settings import (
    DEFAULT_JOBS,
    HttpSettings,
    SchedulingSettings,
    Secret,
    Settings,
)
from planwatch.errors import ConfigError
from planwatch.supervisor import Slot, available_cores, child_env, slots, worker_count

PG = Secret("postgresql+psycopg://pw@db/pw")
SQLITE = Secret("sqlite:///pw.db")


def config(url: Secret, **kw: object) -> Settings:
    return Settings(storage_url=url, targets=(),
                    scheduling=SchedulingSettings(jobs=dict(DEFAULT_JOBS)), **kw)  # type: ignore[arg-type]


def cgroup(tmp_path: Path, cpu_max: str | None) -> tuple[Path, Path]:
    tmp_path.mkdir()
    proc = tmp_path / "cgroup"
    proc.write_text("0::/system.slice/planwatch.service\n")
    root = tmp_path / "fs"
    unit = root / "system.slice" / "planwatch.service"
    unit.mkdir(parents=True)
    if cpu_max is not None:
        (unit / "cpu.max").write_text(cpu_max + "\n")
    return proc, root


def test_cores_are_capped_by_a_cgroup_cpu_quota(tmp_path: Path) -> None:
    mask = len(os.sched_getaffinity(0))
    assert available_cores(*cgroup(tmp_path / "a", "max 100000")) == mask
    assert available_cores(*cgroup(tmp_path / "b", "150000 100000")) == min(mask, 2)
    assert available_cores(*cgroup(tmp_path / "c", "50000 100000")) == 1
    assert available_cores(*cgroup(tmp_path / "d", None)) == mask  # no cpu.max: no quota
    assert available_cores(tmp_path / "missing", tmp_path) == mask


def test_worker_count_defaults_and_refusals() -> None:
    assert worker_count(None, config(SQLITE)) == 1
    assert worker_count(None, config(PG)) == available_cores()
    assert worker_count(3, config(PG)) == 3
    assert worker_count(1, config(SQLITE)) == 1
    with pytest.raises(ConfigError, match="SQLite storage serves one worker, not 2"):
        worker_count(2, config(SQLITE))


def test_slots_are_named_after_the_worker_and_take_consecutive_ports() -> None:
    settings = config(PG, worker_name="mon-a", http=HttpSettings(port=9000))
    assert [(s.name, s.port) for s in slots(settings, 3)] == [
        ("mon-a/1", 9000), ("mon-a/2", 9001), ("mon-a/3", 9002)]
    no_http = config(PG, worker_name="x", http=HttpSettings(enabled=False))
    assert [s.port for s in slots(no_http, 2)] == [None, None]
    with pytest.raises(ConfigError, match="beyond 65535"):
        slots(config(PG, http=HttpSettings(port=65535)), 2)


def test_child_environment_replaces_systemds_variables() -> None:
    parent = {"PATH": "/bin", "NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_PID": "1",
              "WATCHDOG_USEC": "60000000", "PLANWATCH_HTTP__PORT": "8080"}
    slot = Slot(2, "mon-a/2", 8081, notify_path="/tmp/x/worker-2.sock")
    env = child_env(parent, slot, watchdog_usec=60_000_000)
    assert env == {"PATH": "/bin", "NOTIFY_SOCKET": "/tmp/x/worker-2.sock",
                   "WATCHDOG_USEC": "60000000", "PLANWATCH_WORKER__NAME": "mon-a/2",
                   "PLANWATCH_HTTP__PORT": "8081"}
    assert "WATCHDOG_USEC" not in child_env(parent, slot, watchdog_usec=None)
