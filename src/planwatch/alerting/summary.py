"""The daily summary: what changed in the last day and how everything stands now.

`collect` reads storage; `render_text` / `render_html` are pure (Jinja2 templates in
`alerting/templates/`); `planwatch summary --print` prints exactly `render_text`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jinja2

from planwatch.alerting import messages, outbox
from planwatch.alerting.channels import Message
from planwatch.config.settings import Settings
from planwatch.model.alerts import Alert, AlertKind
from planwatch.model.jobs import Worker, WorkerStatus
from planwatch.storage import notifications, queries, targets, workers
from planwatch.storage import summary as reads
from planwatch.storage.engine import Storage
from planwatch.storage.queries import QuerySummary
from planwatch.storage.targets import TargetRecord

WINDOW = timedelta(days=1)
TOP_HOTSPOTS = 5

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("planwatch.alerting", "templates"),
    autoescape=jinja2.select_autoescape(["html", "html.j2"]),
    trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)


@dataclass(frozen=True)
class Summary:
    since: datetime
    until: datetime
    new: list[Alert]  # regressions opened in the window
    resolved: list[Alert]
    ongoing: list[Alert]
    other_active: dict[str, int]  # active alerts of other kinds (check, health, hotspot)
    hotspots: list[QuerySummary]
    checks: dict[str, int]  # check results in the window by status
    failing_checks: list[str]
    workers: list[Worker]
    targets: list[TargetRecord]
    dashboard: str
    plan_changes: int = 0  # plans first seen in the window for queries that had another one
    health_findings: dict[str, int] = field(default_factory=dict)  # collector health, by kind
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def targets_down(self) -> list[TargetRecord]:
        return [t for t in self.targets if t.enabled and t.up is False]

    @property
    def workers_by_status(self) -> dict[str, int]:
        return dict(Counter(w.status.value for w in self.workers))

    @property
    def dead_workers(self) -> list[Worker]:
        return [w for w in self.workers if w.status is WorkerStatus.DEAD
                and (w.last_heartbeat is None or w.last_heartbeat >= self.since)]

    @property
    def status(self) -> str:
        """Critical: a critical alert open or a target down; Warning: anything else amiss."""
        active = [*self.ongoing]
        if any(a.severity.value == "critical" for a in active) or self.targets_down:
            return "Critical"
        failing = sum(self.checks.get(s, 0) for s in ("warning", "critical", "error"))
        if active or failing or self.dead_workers or any(self.other_active.values()):
            return "Warning"
        return "Healthy"

    def counts(self) -> dict[str, Any]:
        return {
            "new_regressions": len(self.new), "resolved_regressions": len(self.resolved),
            "ongoing_regressions": len(self.ongoing), "other_active_alerts": self.other_active,
            "checks": self.checks, "targets": len(self.targets),
            "targets_down": len(self.targets_down), "workers": self.workers_by_status,
            "plan_changes": self.plan_changes,
            "collector_health_findings": sum(self.health_findings.values()),
        }


def collect(st: Storage, settings: Settings, now: datetime) -> Summary:
    since = now - WINDOW
    regressions = reads.alerts_in(st, since, now, kind=AlertKind.REGRESSION.value)
    everything = reads.alerts_in(st, since, now)
    other = Counter(a.kind.value for a in everything.ongoing if a.kind is not AlertKind.REGRESSION)
    return Summary(
        since=since, until=now, new=regressions.new, resolved=regressions.resolved,
        ongoing=regressions.ongoing, other_active=dict(other),
        hotspots=queries.top(st, target=None, since=since, until=now, limit=TOP_HOTSPOTS),
        checks=reads.check_outcomes(st, since, now),
        failing_checks=reads.failing_checks(st, since, now),
        workers=workers.list_all(st), targets=targets.list_all(st),
        dashboard=messages.base_url(settings.http),
        plan_changes=reads.plan_changes(st, since, now),
        health_findings=reads.health_findings(st, since, now),
    )


def render_text(s: Summary) -> str:
    return _env.get_template("summary.txt.j2").render(s=s, link=messages.alert_url)


def render_html(s: Summary) -> str:
    return _env.get_template("summary.html.j2").render(s=s, link=messages.alert_url)


def title(s: Summary) -> str:
    return f"planwatch daily summary {s.until:%Y-%m-%d}: {s.status}"


def enqueue(st: Storage, settings: Settings, s: Summary, now: datetime,
            *, key: tuple[object, ...]) -> list[str]:
    """Put the summary in the outbox, one message per channel; `key` makes it unique (the
    day for the daily one, so a second run that day sends nothing). Returns the new keys."""
    msg = message(s)
    found = outbox.summary_messages(settings, title=msg.title, text=msg.text,
                                    html=msg.html or "", payload=msg.payload, key_parts=key,
                                    now=now)
    return notifications.enqueue(st, found, now=now)


def message(s: Summary) -> Message:
    text, html = render_text(s), render_html(s)
    payload = {
        "version": messages.PAYLOAD_VERSION, "type": "daily_summary", "status": s.status,
        "since": s.since.isoformat(), "until": s.until.isoformat(), "title": title(s),
        "counts": s.counts(), "text": text, "url": s.dashboard,
    }
    return Message(title=title(s), text=text, payload=payload, html=html)
