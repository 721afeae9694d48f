"""Pure grouping: policies per channel, group labels and keys, when a group is due, what is
firing after a batch, and the messages that carry one event or several."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from planwatch.alerting import alertmanager, grouping, messages
from planwatch.config.settings import ChannelSettings, Secret

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def doc(alert_id: int, event: str = "opened", target: str = "orders-db",
        severity: str = "critical", status: str = "open") -> dict[str, Any]:
    alert = {"id": alert_id, "kind": "regression", "status": status, "severity": severity,
             "target": target, "database": "shop", "query_id": str(alert_id),
             "title": f"query {alert_id} is 6.0x slower", "opened_at": T0.isoformat(),
             "resolved_at": T0.isoformat() if status == "resolved" else None,
             "details": {"cause": "plan_change"}}
    return {"version": 1, "type": "alert", "event": event, "event_at": T0.isoformat(),
            "actor": "analysis",
            "title": f"[CRITICAL] {event}: regression on {target}/shop", "text": "...",
            "url": f"https://pw/alerts/{alert_id}", "subject": str(alert_id), "alert": alert}


def test_policies_default_like_alertmanager_and_alertmanager_channels_keep_no_groups() -> None:
    p = grouping.policy(ChannelSettings("team", Secret("slack://x")))
    assert (p.by, p.wait, p.interval, p.repeat) == (
        ("target", "kind"), 30 * S, 300 * S, timedelta(hours=4))
    own = grouping.policy(ChannelSettings("team", Secret("slack://x"), group_by=("...",),
                                          group_wait=timedelta(0)))
    assert (own.by, own.wait) == (("...",), timedelta(0))
    am = grouping.policy(ChannelSettings("am", Secret("alertmanager+http://am:9093")))
    assert (am.by, am.wait, am.interval, am.repeat, am.alertmanager) == (
        (), timedelta(0), timedelta(0), timedelta(minutes=1), True)


def test_labels_and_keys() -> None:
    d = doc(7)
    assert grouping.labels(d, ("target", "kind")) == {"target": "orders-db",
                                                      "kind": "regression"}
    assert grouping.key(grouping.labels(d, ("target", "kind"))) == (
        "target=orders-db,kind=regression")
    assert grouping.labels(d, ("...",)) == {"alert": "7"}
    assert grouping.labels(d, ("subject", "severity")) == {"subject": "7",
                                                          "severity": "critical"}
    assert grouping.key(grouping.labels(d, ())) == ""


def test_a_new_group_waits_group_wait_then_updates_wait_group_interval() -> None:
    p = grouping.policy(ChannelSettings("team", Secret("slack://x")))
    assert not grouping.due(T0, None, False, p, T0 + 29 * S)
    assert grouping.due(T0, None, False, p, T0 + 30 * S)
    sent = T0 + 30 * S
    assert not grouping.due(T0 + 60 * S, sent, True, p, T0 + 329 * S)
    assert grouping.due(T0 + 60 * S, sent, True, p, T0 + 330 * S)
    # a group whose alerts all resolved starts afresh: group_wait again
    assert grouping.due(T0 + 60 * S, sent, False, p, T0 + 90 * S)
    assert not grouping.repeat_due(sent, True, p, sent + timedelta(hours=3))
    assert grouping.repeat_due(sent, True, p, sent + timedelta(hours=4))
    assert not grouping.repeat_due(sent, False, p, sent + timedelta(hours=9))


def test_firing_after_a_batch() -> None:
    events = [(1, "opened"), (2, "opened"), (1, "resolved"), (3, "reopened"), (2, "updated")]
    assert grouping.firing_after((9,), events) == (2, 3, 9)
    assert grouping.firing_after((1,), [(1, "resolved")]) == ()


def test_one_event_is_the_single_alert_document_with_its_key_and_group() -> None:
    group = {"key": "target=orders-db,kind=regression", "labels": {}, "firing": 1}
    title, _, d = messages.group_message([(11, doc(7))], channel="team", group=group,
                                         message_key="k1", base="https://pw")
    assert d["type"] == "alert" and d["idempotency_key"] == "k1" and d["group"] == group
    assert title == "[CRITICAL] opened: regression on orders-db/shop"


def test_several_events_are_one_group_message_that_lists_them() -> None:
    labels = {"target": "orders-db", "kind": "regression"}
    events = [(10 + i, doc(i)) for i in range(60)] + [(99, doc(5, "resolved", status="resolved"))]
    group = {"key": "target=orders-db,kind=regression", "labels": labels, "firing": 59}
    title, text, d = messages.group_message(events, channel="team", group=group,
                                            message_key="k2", base="https://pw")
    assert title == "[CRITICAL] 60 opened, 1 resolved: regression on orders-db (59 firing)"
    assert d["type"] == "alert_group" and d["status"] == "firing"
    assert len(d["events"]) == messages.LISTED and d["truncated"] == 61 - messages.LISTED
    assert d["events"][0]["idempotency_key"] == messages.event_key("team", 10, doc(0))
    assert d["url"] == "https://pw/alerts?status=all&target=orders-db&kind=regression"
    assert text.splitlines()[1] == "- opened [critical] query 0 is 6.0x slower: https://pw/alerts/0"
    assert text.splitlines()[-1].startswith("... and 11 more: https://pw/alerts?")
    resolved = {**group, "firing": 0}
    title, text, d = messages.group_message(
        [(1, doc(1, "resolved", status="resolved")), (2, doc(2, "resolved", status="resolved"))],
        channel="team", group=resolved, message_key="k3", base="https://pw")
    assert title == "[RESOLVED] all resolved: regression on orders-db"
    assert d["status"] == "resolved" and text.endswith("Every alert of this group is resolved.")


def test_keys_are_stable_and_distinct() -> None:
    d = doc(7)
    assert messages.event_key("team", 11, d) == messages.event_key("team", 11, d)
    assert messages.event_key("team", 11, d) != messages.event_key("pager", 11, d)
    assert messages.event_key("team", 11, d) != messages.event_key("team", 12, d)
    assert len(messages.event_key("team", 11, d)) == 36


def test_alertmanager_documents_keep_their_labels_for_the_whole_episode() -> None:
    opened = alertmanager.document(doc(7), channel="am", event_key="e1")
    resolved = alertmanager.document(doc(7, "resolved", status="resolved"), channel="am")
    assert opened["labels"] == resolved["labels"]
    assert opened["labels"] | {"idempotency_key": "*"} == {
        "alertname": "planwatch_regression", "severity": "critical", "kind": "regression",
        "target": "orders-db", "database": "shop", "query_id": "7", "subject": "7",
        "idempotency_key": "*"}
    assert opened["annotations"]["event_key"] == "e1"
    assert opened["annotations"]["plan_verdict"] == "plan_change"
    assert "endsAt" not in opened and resolved["endsAt"] == T0.isoformat()
    assert opened["startsAt"] == T0.isoformat()
    assert opened["generatorURL"] == "https://pw/alerts/7"
    title, _, payload = alertmanager.batch(
        [(1, doc(7)), (2, doc(8)), (3, doc(7, "resolved", status="resolved"))],
        channel="am", message_key="k")
    assert title == "1 firing, 1 resolved alert(s) to Alertmanager"
    assert [("endsAt" in a, a["labels"]["query_id"]) for a in payload["alerts"]] == [
        (True, "7"), (False, "8")]
