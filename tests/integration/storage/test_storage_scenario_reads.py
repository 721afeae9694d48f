"""What the scenario suite counts as a false alert: only alerts that opened (someone was
notified); a pending alert dropped when its query recovered is reported apart (both backends)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from planwatch.model.alerts import Alert, AlertKind, AlertStatus
from planwatch.model.findings import Severity
from planwatch.model.samples import QueryRef, StatementText
from planwatch.storage import alerts, queries, scenario_reads
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EXPECTED = "SELECT o.id FROM orders"


def _alert(query_id: str, *, opened: bool) -> Alert:
    return Alert(
        id=None, dedup_key=f"regression:shop:db:{query_id}", kind=AlertKind.REGRESSION,
        status=AlertStatus.RESOLVED, severity=Severity.WARNING, target="shop", database="db",
        subject=query_id, title=f"query {query_id} is 2.7x slower", query_id=query_id,
        query_text=None, plan_changed=None, baseline_ms=10.0, current_ms=27.0, ratio=2.7,
        opened_at=T0 if opened else None, updated_at=T0 + timedelta(minutes=1),
        resolved_at=T0 + timedelta(minutes=1), details={})


def test_false_alerts_are_the_opened_ones_and_dropped_pending_ones_are_apart(
    storage: Storage,
) -> None:
    texts = {"1": f"{EXPECTED} WHERE customer_id = $1", "2": "SELECT count(*) FROM tariffs",
             "3": "SELECT status, count(*) FROM orders"}
    queries.set_texts(storage, [StatementText(QueryRef("shop", "db", q), t)
                                for q, t in texts.items()], T0)
    for query_id, opened in (("1", True), ("2", True), ("3", False)):
        alerts.create(storage, _alert(query_id, opened=opened), actor="analysis", message="")
    other = replace(_alert("2", opened=True), target="elsewhere",
                    dedup_key="regression:elsewhere:db:2")
    alerts.create(storage, other, actor="analysis", message="")

    assert scenario_reads.false_alerts(storage, "shop", EXPECTED) == [
        "regression: query 2 is 2.7x slower [SELECT count(*) FROM tariffs]"]
    assert scenario_reads.dropped_pending(storage, "shop", EXPECTED) == [
        "regression: query 3 is 2.7x slower [SELECT status, count(*) FROM orders]"]
    assert len(scenario_reads.false_alerts(storage, "shop", None)) == 2  # nothing expected
