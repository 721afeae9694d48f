"""Pure message rendering, escalation and timeout stamping, and the summary's status."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from planwatch.alerting import escalation, messages, summary, timeouts
from planwatch.config.settings import HttpSettings
from planwatch.model.alerts import Alert, AlertEvent, AlertKind, AlertStatus, Silence
from planwatch.model.findings import Severity
from planwatch.storage.targets import TargetRecord

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALERT = Alert(
    5, "regression:orders-db:shop:1", AlertKind.REGRESSION, AlertStatus.OPEN,
    Severity.CRITICAL, "orders-db", "shop", "1", "query 1 is 6.0x slower (plan changed)",
    query_id="1", query_text="SELECT *\n  FROM orders " + "x" * 400, plan_changed=True,
    baseline_ms=2.0, current_ms=12.0, ratio=6.0, opened_at=T0,
)


def test_base_url() -> None:
    assert messages.base_url(HttpSettings()) == "http://127.0.0.1:8080"
    assert messages.base_url(HttpSettings(host="0.0.0.0", port=9)) == "http://localhost:9"
    assert messages.base_url(HttpSettings(public_url="https://pw.example/")) == "https://pw.example"


def test_payload_says_what_where_how_bad_and_links() -> None:
    ev = AlertEvent(5, T0, "opened", "analysis", "detected")
    p = messages.payload(ALERT, ev, base="https://pw")
    assert p["url"] == "https://pw/alerts/5" and p["event"] == "opened" and p["version"] == 1
    assert p["title"] == "[CRITICAL] opened: regression on orders-db/shop"
    lines = p["text"].splitlines()
    assert lines[0] == "query 1 is 6.0x slower (plan changed)"
    assert "Where: target orders-db, database shop" in lines
    assert "How bad: 2.0 ms -> 12.0 ms per call (6.0x)" in lines
    assert any(x.startswith("Query: SELECT * FROM orders") and x.endswith("...") for x in lines)
    assert lines[-1] == "Alert 5 (open): https://pw/alerts/5"
    assert p["alert"]["ratio"] == 6.0 and p["alert"]["kind"] == "regression"


def test_escalation_skips_silenced_alerts() -> None:
    quiet = Silence(1, {"query_id": "2"}, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    other = replace(ALERT, id=6, query_id="2")
    chosen = escalation.due([ALERT, other], [quiet], {}, T0)
    assert [a.id for a in chosen] == [5] and chosen[0].escalated_at == T0


def test_timeouts_resolve_and_wait_for_uptime() -> None:
    [r] = timeouts.expire([ALERT], T0)
    assert r.status is AlertStatus.RESOLVED and r.resolved_at == T0


def _summary(**kw: object) -> summary.Summary:
    base = summary.Summary(
        since=T0 - timedelta(days=1), until=T0, new=[], resolved=[], ongoing=[],
        other_active={}, hotspots=[], checks={}, failing_checks=[], workers=[], targets=[],
        dashboard="http://pw",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_summary_status() -> None:
    assert _summary().status == "Healthy"
    assert _summary(checks={"ok": 3, "error": 1}).status == "Warning"
    assert _summary(ongoing=[replace(ALERT, severity=Severity.WARNING)]).status == "Warning"
    assert _summary(ongoing=[ALERT]).status == "Critical"
    down = TargetRecord("db", "postgresql", "", (), True, False, "refused", None, T0)
    assert _summary(targets=[down]).status == "Critical"


def test_summary_renders_text_and_html() -> None:
    s = _summary(new=[ALERT], ongoing=[ALERT], checks={"ok": 2})
    text = summary.render_text(s)
    assert "Regressions: 1 new, 0 resolved, 1 ongoing" in text
    assert "#5 [critical] orders-db/shop: query 1 is 6.0x slower (plan changed)" in text
    assert "(no samples in the window)" in text and "Checks: ok 2, warning 0" in text
    html = summary.render_html(replace(s, new=[replace(ALERT, title="<script>")]))
    assert "&lt;script&gt;" in html and 'href="http://pw/alerts/5"' in html
    msg = summary.message(s)
    assert msg.title == "planwatch daily summary 2026-03-01: Critical"
    assert msg.payload["counts"]["new_regressions"] == 1 and msg.html
