"""The Windows service's runner, on the platform-independent path: start, stop from another
thread (as the Service Control Manager does), worker row Stopped."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from planwatch.model.jobs import WorkerStatus
from planwatch.storage import workers
from planwatch.storage.engine import Storage
from planwatch.winservice import ServiceRunner, main

pytestmark = pytest.mark.integration


def test_runner_starts_the_worker_and_stops_on_request(tmp_path: Path) -> None:
    db = tmp_path / "planwatch.db"
    config = tmp_path / "planwatch.yaml"
    config.write_text(yaml.safe_dump({"storage": {"url": f"sqlite:///{db}"},
                                      "http": {"enabled": False}}))
    runner = ServiceRunner(config)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(runner.run()))
    thread.start()
    assert runner.started.wait(30)
    st = Storage.open(f"sqlite:///{db}")
    try:
        assert [w.status for w in workers.list_all(st)] == [WorkerStatus.RUNNING]
        t0 = time.monotonic()
        runner.stop()
        thread.join(15)
        assert not thread.is_alive() and result == [0]
        assert time.monotonic() - t0 < 10
        assert [w.status for w in workers.list_all(st)] == [WorkerStatus.STOPPED]
    finally:
        st.close()


def test_stop_before_start_is_honoured(tmp_path: Path) -> None:
    config = tmp_path / "planwatch.yaml"
    config.write_text(yaml.safe_dump({"storage": {"url": f"sqlite:///{tmp_path / 'p.db'}"},
                                      "http": {"enabled": False}}))
    runner = ServiceRunner(config)
    runner.stop()
    assert runner.run() == 0


@pytest.mark.skipif(sys.platform == "win32", reason="the refusal is for other platforms")
def test_service_command_line_refuses_outside_windows() -> None:
    with pytest.raises(SystemExit, match="for Windows"):
        main(["install"])
