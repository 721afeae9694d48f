"""Pure routing: channel filters, escalation channels, silences and inhibition."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from planwatch.alerting import routing, silences
from planwatch.config.settings import ChannelSettings, EscalationSettings, Secret, SilenceSettings
from planwatch.model.alerts import Alert, AlertKind, AlertStatus, Silence
from planwatch.model.findings import Severity

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALERT = Alert(None, "regression:orders-db:shop:1", AlertKind.REGRESSION, AlertStatus.OPEN,
              Severity.WARNING, "orders-db", "shop", "1", "query 1 is 3.0x slower", query_id="1")
CHANNELS = (
    ChannelSettings("all", Secret("json://x")),
    ChannelSettings("pager", Secret("json://y"), min_severity="critical"),
    ChannelSettings("checks", Secret("json://z"), kinds=("check",)),
    ChannelSettings("prod", Secret("json://w"), tags=("prod",)),
)
ESCALATION = EscalationSettings(after=timedelta(minutes=30), channels=("pager",))


def decide(alert: Alert = ALERT, event: str = "opened", tags: tuple[str, ...] = ("prod",),
           silenced: tuple[Silence, ...] = (), unreachable: tuple[str, ...] = ()
           ) -> routing.Decision:
    return routing.decide(alert, event, channels=CHANNELS, escalation=ESCALATION, tags=tags,
                          silences=silenced, unreachable_targets=unreachable, now=T0)


def test_filters_by_severity_kind_and_tags() -> None:
    assert decide().channels == ("all", "prod")
    assert decide(tags=("lab",)).channels == ("all",)
    critical = replace(ALERT, severity=Severity.CRITICAL)
    assert decide(critical).channels == ("all", "pager", "prod")
    check = replace(ALERT, kind=AlertKind.CHECK)
    assert decide(check).channels == ("all", "checks", "prod")


@pytest.mark.parametrize("event", ["acknowledged", "notified", "notification_failed", "x"])
def test_only_lifecycle_events_notify(event: str) -> None:
    assert decide(event=event) == routing.Decision()


def test_escalations_go_to_the_escalation_channels_only() -> None:
    assert decide(event="escalated").channels == ("pager",)


def test_a_matching_active_silence_suppresses() -> None:
    s = Silence(3, {"target": "orders-*"}, T0 - timedelta(hours=1), T0 + timedelta(hours=1),
                "reindex")
    d = decide(silenced=(s,))
    assert d.channels == () and "silence 3" in (d.suppressed or "") and "reindex" in d.suppressed
    ended = replace(s, ends_at=T0)
    assert decide(silenced=(ended,)).channels == ("all", "prod")
    other = replace(s, matchers={"target": "orders-*", "severity": "critical"})
    assert decide(silenced=(other,)).suppressed is None


def test_unreachable_target_inhibits_its_other_alerts() -> None:
    d = decide(unreachable=("orders-db",))
    assert d.channels == () and "unreachable" in (d.suppressed or "")
    down = replace(ALERT, kind=AlertKind.HEALTH, subject="unreachable")
    assert decide(down, unreachable=("orders-db",)).channels == ("all", "prod")


def test_silence_matchers() -> None:
    assert silences.parse_matchers(["target=orders-*", " kind = check "]) == {
        "target": "orders-*", "kind": "check"}
    with pytest.raises(silences.InvalidSilence, match="unknown matcher key 'colour'"):
        silences.parse_matchers(["colour=red"])
    with pytest.raises(silences.InvalidSilence, match="not KEY=VALUE"):
        silences.parse_matchers(["target"])
    with pytest.raises(silences.InvalidSilence, match="at least one"):
        silences.parse_matchers([])
    tagged = Silence(None, {"tag": "pr*"})
    assert silences.matches(tagged, ALERT, ["prod"]) and not silences.matches(tagged, ALERT, [])
    assert not silences.matches(Silence(None, {"nonsense": "*"}), ALERT)
    labelled = replace(ALERT, details={"region": "eu"})
    assert silences.matches(Silence(None, {"region": "e*"}), labelled)


def test_config_silences() -> None:
    [s] = silences.from_settings([SilenceSettings(
        {"target": "a"}, starts_at="2026-03-01T10:00:00+00:00",
        ends_at="2026-03-01T13:00:00+00:00", comment="window")])
    assert s.id is None and s.active(T0) and not s.active(T0 + timedelta(hours=1))
    assert silences.describe(s) == "config silence (target=a): window"



def test_pending_and_dropped_never_notify_nor_the_end_of_what_never_opened() -> None:
    opened = replace(ALERT, opened_at=T0)
    assert decide(opened, "pending").channels == ()
    assert decide(opened, "dropped").channels == ()
    assert decide(opened, "resolved").channels == ("all", "prod")
    assert decide(replace(ALERT, opened_at=None), "resolved").channels == ()


def test_an_unreachable_target_also_inhibits_its_jobs_failure_alerts() -> None:
    job = replace(ALERT, kind=AlertKind.HEALTH, target="planwatch",
                  subject="job:collection:orders-db", dedup_key="health:planwatch::job:x")
    assert routing.caused_by(job) == "orders-db"
    assert decide(job, unreachable=("orders-db",)).suppressed == (
        "inhibited: target orders-db is unreachable")
    assert decide(job, unreachable=("lab-db",)).channels == ("all", "prod")
    global_job = replace(job, subject="job:analysis")
    assert routing.caused_by(global_job) == "planwatch"
    assert decide(global_job, unreachable=("orders-db",)).suppressed is None
