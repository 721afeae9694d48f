"""The delivery guarantee with real worker processes and a real receiver that holds its answer:
a worker killed (SIGKILL) in the middle of a delivery sends it at most once more after the
restart, with the same idempotency key; a clean stop (SIGTERM) sends nothing twice."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from workerproc import WorkerProcess, fast_config, wait_for, write_config

from integration.alerting.alerting_support import regression_alert
from integration.alerting.receivers import WebhookReceiver
from planwatch.clock import utcnow
from planwatch.model.alerts import NotificationStatus
from planwatch.model.jobs import JobRun, WorkerStatus
from planwatch.storage import alerts, job_runs, notifications, workers
from planwatch.storage.engine import Storage

pytestmark = [pytest.mark.integration, pytest.mark.slow]
HEARTBEAT_S = 1


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(hold=True)
    r.start()
    try:
        yield r
    finally:
        r.stop()


def config(tmp_path: Path, receiver: WebhookReceiver) -> Path:
    cfg: dict[str, Any] = fast_config(tmp_path, [], alerting={"channels": [
        {"name": "hook", "url": f"webhook+{receiver.url}", "group_wait": "0s"}]})
    cfg["scheduling"].update({"alert_processing": {"interval": "1s", "startup_delay": "0s"},
                              "heartbeat": {"interval": f"{HEARTBEAT_S}s"}})
    return write_config(tmp_path / "planwatch.yaml", cfg)


@pytest.fixture
def setup(tmp_path: Path, receiver: WebhookReceiver) -> Iterator[tuple[Path, Storage, int]]:
    """The worker's config, its storage and one fresh open alert (its "opened" event not
    routed yet)."""
    path = config(tmp_path, receiver)
    st = Storage.open(yaml.safe_load(path.read_text())["storage"]["url"])
    st.migrate()
    now = utcnow()
    created = alerts.create(st, regression_alert(opened_at=now, updated_at=now,
                                                 evaluated_at=now), actor="analysis")
    try:
        yield path, st, created.id or 0
    finally:
        st.close()


def interrupt(path: Path, receiver: WebhookReceiver, signum: int,
              answer_after: float | None = None) -> WorkerProcess:
    """Run a worker until its first attempt is held by the receiver, then send `signum`
    (and let the receiver answer `answer_after` seconds later); returns the exited worker."""
    with WorkerProcess(path) as worker:
        wait_for(lambda: receiver.hits == 1, what="the first attempt", process=worker)
        worker.send(signum)
        if answer_after is not None:
            threading.Timer(answer_after, receiver.release.set).start()
        worker.proc.wait(timeout=10)
    receiver.hold = False
    return worker


def processing_runs(st: Storage) -> list[JobRun]:
    return job_runs.recent(st, job_name="alert_processing", limit=1000)


def notified(st: Storage, alert_id: int) -> int:
    return sum(1 for e in alerts.events(st, alert_id) if e.event == "notified")


def test_a_worker_killed_mid_delivery_sends_it_once_more_with_the_same_key(
    setup: tuple[Path, Storage, int], receiver: WebhookReceiver
) -> None:
    path, st, alert_id = setup
    interrupt(path, receiver, signal.SIGKILL)  # the receiver has the message, no answer
    [key] = receiver.keys
    receiver.release.set()
    # SQLite storage refuses a second worker while the killed one's heartbeat is fresh
    stale = timedelta(seconds=4 * HEARTBEAT_S)
    wait_for(lambda: all(utcnow() - (w.last_heartbeat or w.started_at) > stale
                         for w in workers.list_all(st)), what="a stale heartbeat")
    with WorkerProcess(path) as second:
        wait_for(lambda: receiver.hits == 2 and notified(st, alert_id),
                 what="the re-sent message", process=second)
        runs = len(processing_runs(st))
        wait_for(lambda: len(processing_runs(st)) >= runs + 3,
                 what="three more alert processing runs", process=second)
        assert second.stop() == 0
    assert receiver.keys == [key, key]  # at most one duplicate, same key
    assert {d["idempotency_key"] for d in receiver.received} == {key}
    assert notified(st, alert_id) == 1
    [message] = notifications.listing(st)
    assert (message.status, message.attempts) == (NotificationStatus.SENT, 1)
    assert {w.status for w in workers.list_all(st)} == {WorkerStatus.DEAD, WorkerStatus.STOPPED}


def test_a_clean_stop_mid_delivery_sends_nothing_twice(
    setup: tuple[Path, Storage, int], receiver: WebhookReceiver
) -> None:
    path, st, alert_id = setup
    first = interrupt(path, receiver, signal.SIGTERM, answer_after=1.0)  # answers meanwhile
    assert first.proc.returncode == 0 and first.events("notification.sent")
    before = len(processing_runs(st))
    with WorkerProcess(path) as second:
        wait_for(lambda: len(processing_runs(st)) >= before + 3,
                 what="three alert processing runs", process=second)
        assert second.stop() == 0
    assert receiver.hits == 1 and len(receiver.received) == 1
    assert notified(st, alert_id) == 1
    [message] = notifications.listing(st)
    assert message.status is NotificationStatus.SENT


def test_a_clean_stop_with_no_answer_within_the_grace_resends_once_with_the_same_key(
    setup: tuple[Path, Storage, int], receiver: WebhookReceiver
) -> None:
    path, st, alert_id = setup
    first = interrupt(path, receiver, signal.SIGTERM)  # no answer past the grace
    assert first.proc.returncode == 0 and first.events("notification.in_doubt")
    [key] = receiver.keys
    receiver.release.set()
    with WorkerProcess(path) as second:  # the stopped worker's claim is free at once
        wait_for(lambda: receiver.hits == 2 and notified(st, alert_id),
                 what="the re-sent message", process=second)
        assert second.stop() == 0
    assert receiver.keys == [key, key] and notified(st, alert_id) == 1
