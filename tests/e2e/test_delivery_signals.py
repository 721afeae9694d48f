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

pytestmark = pytest.mark.integration
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


def seed_alert(path: Path) -> tuple[Storage, int]:
    """Storage with one fresh open alert (its "opened" event not routed yet)."""
    st = Storage.open(yaml.safe_load(path.read_text())["storage"]["url"])
    st.migrate()
    now = utcnow()
    created = alerts.create(st, regression_alert(opened_at=now, updated_at=now,
                                                 evaluated_at=now), actor="analysis")
    return st, created.id or 0


def processing_runs(st: Storage) -> list[JobRun]:
    return job_runs.recent(st, job_name="alert_processing", limit=1000)


def notified(st: Storage, alert_id: int) -> int:
    return sum(1 for e in alerts.events(st, alert_id) if e.event == "notified")


def test_a_worker_killed_mid_delivery_sends_it_once_more_with_the_same_key(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    path = config(tmp_path, receiver)
    st, alert_id = seed_alert(path)
    try:
        with WorkerProcess(path) as first:
            wait_for(lambda: receiver.hits == 1, what="the first attempt", process=first)
            first.send(signal.SIGKILL)  # the receiver has the message, its answer is held
            first.proc.wait(timeout=10)
        [key] = receiver.keys
        receiver.hold = False
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
        states = {w.status for w in workers.list_all(st)}
        assert states == {WorkerStatus.DEAD, WorkerStatus.STOPPED}
    finally:
        st.close()


def test_a_clean_stop_mid_delivery_sends_nothing_twice(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    path = config(tmp_path, receiver)
    st, alert_id = seed_alert(path)
    try:
        with WorkerProcess(path) as first:
            wait_for(lambda: receiver.hits == 1, what="the first attempt", process=first)
            first.send(signal.SIGTERM)
            answer = threading.Timer(1.0, receiver.release.set)  # answers while it stops
            answer.start()
            assert first.proc.wait(timeout=10) == 0
            answer.join()
            assert first.events("notification.sent")
        receiver.hold = False
        before = len(processing_runs(st))
        with WorkerProcess(path) as second:
            wait_for(lambda: len(processing_runs(st)) >= before + 3,
                     what="three alert processing runs", process=second)
            assert second.stop() == 0
        assert receiver.hits == 1 and len(receiver.received) == 1
        assert notified(st, alert_id) == 1
        [message] = notifications.listing(st)
        assert message.status is NotificationStatus.SENT
    finally:
        st.close()


def test_a_clean_stop_with_no_answer_within_the_grace_resends_once_with_the_same_key(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    path = config(tmp_path, receiver)
    st, alert_id = seed_alert(path)
    try:
        with WorkerProcess(path) as first:
            wait_for(lambda: receiver.hits == 1, what="the first attempt", process=first)
            first.send(signal.SIGTERM)  # the receiver keeps its answer past the grace
            assert first.proc.wait(timeout=10) == 0
            assert first.events("notification.in_doubt")
        [key] = receiver.keys
        receiver.hold = False
        receiver.release.set()
        with WorkerProcess(path) as second:  # the stopped worker's claim is free at once
            wait_for(lambda: receiver.hits == 2 and notified(st, alert_id),
                     what="the re-sent message", process=second)
            assert second.stop() == 0
        assert receiver.keys == [key, key] and notified(st, alert_id) == 1
    finally:
        st.close()
