"""The daily summary on a seeded storage: counts, rendering, delivery to every channel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alerting_support import T0, make_settings, regression_alert
from receivers import SmtpReceiver, WebhookReceiver, body_text

from planwatch import cli
from planwatch.alerting import summary
from planwatch.config.settings import ChannelSettings, Secret, Settings
from planwatch.jobs import alert_processing, daily_summary
from planwatch.jobs.deps import JobDeps
from planwatch.model.alerts import AlertKind, AlertStatus
from planwatch.model.findings import Severity
from planwatch.model.samples import CapturedPlan, QueryRef, QuerySample
from planwatch.storage import alerts, plans, samples, targets
from planwatch.storage.engine import Storage
from planwatch.storage.tables import check_results

pytestmark = pytest.mark.integration

Deps = Callable[[Settings], JobDeps]
NOW = T0 + timedelta(days=1)


def seed(st: Storage, settings: Settings) -> None:
    targets.sync(st, settings.targets, T0)
    targets.set_status(st, "lab-db", up=False, error="connection refused", at=NOW)
    day = timedelta(days=1)
    hour = timedelta(hours=1)
    alerts.create(st, regression_alert("1", opened_at=T0 + hour), actor="analysis")
    gone = alerts.create(st, regression_alert("2", opened_at=T0 + hour), actor="analysis")
    alerts.update(st, replace(gone, status=AlertStatus.RESOLVED, resolved_at=T0 + 2 * hour))
    alerts.create(st, regression_alert("3", opened_at=T0 - 2 * day, severity=Severity.WARNING),
                  actor="analysis")
    old = alerts.create(st, regression_alert("4", opened_at=T0 - 3 * day), actor="analysis")
    alerts.update(st, replace(old, status=AlertStatus.RESOLVED, resolved_at=T0 - 2 * day))
    alerts.create(st, regression_alert("c1", kind=AlertKind.CHECK, subject="backlog",
                                       dedup_key="check:orders-db::backlog"), actor="checks")
    rows = [("ok", T0 + hour)] * 5 + [("warning", T0 + 2 * hour)] * 2 + \
        [("error", T0 + 3 * hour)] + [("ok", T0 - day)] * 3
    with st.begin() as conn:
        conn.execute(sa.insert(check_results), [
            {"check_name": "backlog", "target": "orders-db", "labels": {}, "status": status,
             "value": 1.0, "value_text": None, "duration_ms": 3.0, "message": "",
             "executed_at": at, "job_run_id": None}
            for status, at in rows
        ])
    ref = QueryRef("orders-db", "shop", "777", "fp777")
    samples.insert(st, [QuerySample(ref, T0 + hour, T0 + hour + timedelta(minutes=5), 100,
                                    2500.0)])
    # plan changes in the window: 777 got a second plan today; 778's only plan is no change
    other = QueryRef("orders-db", "shop", "778", "fp778")
    plans.upsert(st, [CapturedPlan(ref, "h1", "{}", "", T0 - day),
                      CapturedPlan(ref, "h2", "{}", "", T0 + hour),
                      CapturedPlan(other, "h9", "{}", "", T0 + hour)])
    # collector health: two findings today (one of them planwatch's own, not counted)
    for subject, target in (("evictions", "orders-db"), ("job:analysis", "planwatch")):
        alerts.create(st, regression_alert(subject, kind=AlertKind.HEALTH, subject=subject,
                                           target=target, dedup_key=f"health:{target}::{subject}",
                                           opened_at=T0 + hour), actor="analysis")


async def test_daily_summary_counts_and_goes_through_the_outbox(
    storage: Storage, storage_url: str, make_deps: Deps, webhook: WebhookReceiver,
    smtp: SmtpReceiver,
) -> None:
    broken = WebhookReceiver(status=500)
    broken.start()
    try:
        settings = make_settings(storage_url, [
            ChannelSettings("hook", Secret(f"webhook+{webhook.url}")),
            ChannelSettings("broken", Secret(f"webhook+{broken.url}")),
            ChannelSettings("mail", Secret(smtp.url())),
        ])
        seed(storage, settings)
        s = summary.collect(storage, settings, NOW)
        assert (len(s.new), len(s.resolved), len(s.ongoing)) == (2, 1, 2)
        assert s.checks == {"ok": 5, "warning": 2, "error": 1}
        assert s.other_active == {"check": 1, "health": 2}
        assert (s.plan_changes, s.health_findings) == (1, {"evictions": 1})
        assert [t.name for t in s.targets_down] == ["lab-db"]
        assert s.status == "Critical"
        text = summary.render_text(s)
        assert "Overall status: Critical" in text
        assert "Regressions: 2 new, 1 resolved, 2 ongoing" in text
        assert "Plan changes: 1\nCollector-health findings: 1 (evictions 1)" in text
        assert "Checks: ok 5, warning 2, critical 0, error 1" in text
        assert "Targets: 2 (1 down)" in text and "lab-db is down: connection refused" in text
        assert "orders-db/shop query 777: 2500 ms total, 100 calls" in text

        deps = make_deps(settings)
        _, keys = await deps.blocking(daily_summary.queue, deps, NOW)
        assert len(keys) == 3
        _, again = await deps.blocking(daily_summary.queue, deps, NOW + timedelta(hours=1))
        assert again == []  # the same day: queued once
        _, sent = await alert_processing.cycle(deps, NOW)
        assert sent.failing_channels == ["broken"]
        [doc] = [d for d in webhook.received if d["type"] == "daily_summary"]
        assert doc["status"] == "Critical"
        assert doc["counts"]["new_regressions"] == 2 and doc["text"] == text
        assert doc["counts"]["plan_changes"] == 1
        assert doc["counts"]["collector_health_findings"] == 1
        assert doc["idempotency_key"] in keys and doc["idempotency_key"] in webhook.keys
        [mail] = [m for _, m in smtp.messages if "daily summary" in str(m["Subject"])]
        assert "Regressions: 2 new, 1 resolved, 2 ongoing" in body_text(mail)
        # the broken channel gets it once it answers, with the same key, after the backoff
        broken.status = 200
        await alert_processing.cycle(deps, NOW + timedelta(seconds=10))
        assert broken.received == []
        await alert_processing.cycle(deps, NOW + timedelta(seconds=31))
        [late] = [d for d in broken.received if d["type"] == "daily_summary"]
        assert broken.keys.count(late["idempotency_key"]) == 2  # failed once, then accepted
    finally:
        broken.stop()


def test_summary_print_renders_the_same_text(
    storage: Storage, storage_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLANWATCH_STORAGE__URL", storage_url)
    monkeypatch.chdir(str(tmp_path))
    settings = make_settings(storage_url, [])
    alerts.create(storage, regression_alert("9", opened_at=T0), actor="analysis")
    assert cli.main(["summary", "--print"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("planwatch daily summary")
    assert "Regressions:" in out and "Overall status:" in out
    assert settings.alerting.channels == ()
