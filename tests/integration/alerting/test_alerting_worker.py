"""The alert_processing job inside a real worker (App): delivery survives a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alerting_support import regression_alert
from receivers import WebhookReceiver

from planwatch.app import App
from planwatch.clock import utcnow
from planwatch.config import loader
from planwatch.model.jobs import ResultStatus
from planwatch.storage import alerts, notifications
from planwatch.storage.engine import Storage
from planwatch.web import metrics

pytestmark = pytest.mark.integration


def write_config(tmp_path: Path, hook: str) -> Path:
    path = tmp_path / "planwatch.yaml"
    path.write_text(f"""
storage:
  url: sqlite:///{tmp_path / 'pw.db'}
http:
  enabled: false
scheduling:
  backoff: {{initial: 1s, max: 2s}}
alerting:
  channels:
    - name: hook
      url: webhook+{hook}
      group_wait: 0s
""")
    return path


async def test_pending_delivery_survives_a_worker_restart(
    tmp_path: Path, webhook: WebhookReceiver
) -> None:
    config = write_config(tmp_path, webhook.url)
    settings = loader.load(str(config), environ={})
    webhook.stop()
    async with App(settings, config_path=str(config)) as app:
        now = utcnow()
        fresh = regression_alert(opened_at=now, updated_at=now, evaluated_at=now)
        created = alerts.create(app.storage, fresh, actor="analysis")
        outcome = await app.scheduler.run_once("alert_processing")
        assert outcome.result_status is ResultStatus.WARNING
        assert outcome.data["failed"] == 1 and outcome.data["failing_channels"] == ["hook"]
        scrape = metrics.render(metrics.registry_for(app.web)).decode()
        assert 'planwatch_notifications_total{channel="hook",outcome="failed"} 1.0' in scrape
        for job in ("retention_cleanup", "maintenance"):
            done = await app.scheduler.run_once(job)
            assert done.result_status is not ResultStatus.ERROR, (job, done.message)

    webhook.start()
    await asyncio.sleep(1.2)  # past the 1 s backoff
    async with App(settings, config_path=str(config)) as app:
        first = await app.scheduler.run_once("alert_processing")
        second = await app.scheduler.run_once("alert_processing")
    assert first.data["sent"] == 1 and second.data["sent"] == 0
    assert [d["alert"]["id"] for d in webhook.received] == [created.id]

    st = Storage.open(settings.storage_url.reveal())
    try:
        assert notifications.backlog(st) == []
        events = [e.event for e in alerts.events(st, created.id or 0)]
        assert events == ["opened", "notification_failed", "notified"]
    finally:
        st.close()
