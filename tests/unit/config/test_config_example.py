"""examples/planwatch.yaml is documentation that must keep loading."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from planwatch.config import loader
from planwatch.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "planwatch.yaml"


def test_example_loads() -> None:
    settings = loader.load(EXAMPLE, environ={"PGPASSWORD": "example-pw", "HOSTNAME": "box"})
    orders = settings.target("orders-db")
    assert orders.dsn.reveal() == "postgresql://planwatch:example-pw@localhost:5432/orders"
    assert orders.safe_dsn == "postgresql://planwatch:***@localhost:5432/orders"
    assert [c.name for c in settings.checks] == [
        "orders-backlog", "replication-lag-seconds", "failed-imports",
    ]  # fmt: skip
    assert settings.checks[0].warning == "> 1000"
    (metric,) = settings.checks[2].metrics
    assert (metric.name, metric.type, metric.column, metric.labels) == (
        "import_failures", "gauge", "failures", ("source",))
    assert metric.expiration == timedelta(hours=1)
    assert settings.alerting.escalation.channels == ("oncall",)
    assert settings.scheduling.jobs["collection"].interval == timedelta(minutes=5)
    assert settings.worker_name == "box"
    assert settings.http.token is None


def test_example_needs_pgpassword() -> None:
    with pytest.raises(ConfigError) as caught:
        loader.load(EXAMPLE, environ={})
    assert caught.value.problems == [
        ("targets[0].dsn", "environment variable PGPASSWORD is not set")
    ]
