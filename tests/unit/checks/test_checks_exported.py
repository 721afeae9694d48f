"""Check results as named metrics (query-exporter style): config, row -> series per type,
labels from result columns, stale series expired, reloads. Result rows are literal values;
the exposition is prometheus_client's real one, linted by promtool where the metrics leave
the process (tests/integration/checks/test_checks_exported_live.py)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from decimal import Decimal

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from planwatch.checks import plan
from planwatch.checks.evaluation import RawResult
from planwatch.checks.exported import ExportedMetrics
from planwatch.config import loader
from planwatch.config.settings import Settings
from planwatch.errors import ConfigError

CONFIG = """
targets:
  - {name: eu, dsn: "sqlite:///eu.db", tags: [shop]}
  - {name: us, dsn: "sqlite:///us.db", tags: [shop]}
checks:
  - name: orders
    tags: [shop]
    sql: SELECT status, count(*) AS orders, sum(total) AS amount, max(age) AS oldest_s, phase
    result: dataset
    value_column: orders
    label_columns: [status]
    warning: "> 100"
    metrics:
      - {name: shop_orders, description: Orders by status}
      - {name: shop_amount_total, type: counter, column: amount}
      - {name: shop_order_age_seconds, type: histogram, column: oldest_s,
         buckets: [60, 600], labels: []}
      - {name: shop_phase, type: enum, column: phase, states: [open, closing, closed],
         labels: [], expiration: 5m}
"""
COLUMNS = ("status", "orders", "amount", "oldest_s", "phase")


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Exported(Collector):
    def __init__(self, exported: ExportedMetrics) -> None:
        self.exported = exported

    def collect(self) -> Iterator[Metric]:
        return self.exported.families()


def _settings(text: str = CONFIG) -> Settings:
    return loader.load_mapping(yaml.safe_load(text), environ={})


def _lines(exported: ExportedMetrics) -> list[str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Exported(exported))
    return [line for line in generate_latest(registry).decode().splitlines()
            if not line.startswith("# ")]


@pytest.fixture
def setup() -> tuple[ExportedMetrics, _Clock, dict[str, plan.Task]]:
    settings = _settings()
    tasks = {t.target: t for t in plan.tasks(settings.checks, settings.targets)}
    clock = _Clock()
    exported = ExportedMetrics(clock=clock)
    exported.configure(tasks.values())
    return exported, clock, tasks


def test_each_type_from_result_columns(setup: tuple[ExportedMetrics, _Clock, dict]) -> None:
    exported, _, tasks = setup
    rows = [("new", 3, Decimal("30.5"), 42, "open"), ("paid", 5, 100, 900, "open")]
    exported.record(tasks["eu"], RawResult(COLUMNS, rows))
    exported.record(tasks["eu"], RawResult(COLUMNS, [("new", 4, 31, 30, "closing")]))
    assert _lines(exported) == [
        'shop_amount_total{status="new",target="eu"} 31.0',
        'shop_amount_total{status="paid",target="eu"} 100.0',
        'shop_order_age_seconds_bucket{le="60.0",target="eu"} 2.0',
        'shop_order_age_seconds_bucket{le="600.0",target="eu"} 2.0',
        'shop_order_age_seconds_bucket{le="+Inf",target="eu"} 3.0',
        'shop_order_age_seconds_count{target="eu"} 3.0',
        'shop_order_age_seconds_sum{target="eu"} 972.0',
        'shop_orders{status="new",target="eu"} 4.0',
        'shop_orders{status="paid",target="eu"} 5.0',
        'shop_phase{shop_phase="closed",target="eu"} 0.0',
        'shop_phase{shop_phase="closing",target="eu"} 1.0',
        'shop_phase{shop_phase="open",target="eu"} 0.0',
    ]


def test_counter_increment_adds_each_value() -> None:
    settings = _settings(CONFIG.replace("type: counter, column: amount",
                                        "type: counter, column: amount, increment: true"))
    (task, _) = plan.tasks(settings.checks, settings.targets)
    exported = ExportedMetrics()
    exported.configure([task])
    for amount in (2, 3, -9):  # a counter never goes down
        exported.record(task, RawResult(COLUMNS, [("new", 1, amount, 1, "open")]))
    assert 'shop_amount_total{status="new",target="eu"} 5.0' in _lines(exported)


def test_unusable_values_are_skipped_and_missing_columns_change_nothing(
    setup: tuple[ExportedMetrics, _Clock, dict], caplog: pytest.LogCaptureFixture
) -> None:
    exported, _, tasks = setup
    exported.record(tasks["eu"], RawResult(COLUMNS, [("new", None, "n/a", 1, "gone")]))
    exported.record(tasks["eu"], RawResult(("status", "orders"), [("new", 1)]))
    lines = _lines(exported)
    assert 'shop_orders{status="new",target="eu"} 1.0' in lines
    assert not [line for line in lines if line.startswith(("shop_amount", "shop_phase"))]
    assert 'shop_order_age_seconds_count{target="eu"} 1.0' in lines


def test_stale_series_expire(setup: tuple[ExportedMetrics, _Clock, dict]) -> None:
    exported, clock, tasks = setup
    exported.record(tasks["eu"], RawResult(COLUMNS, [("new", 1, 1, 1, "open")]))
    clock.now += 240
    exported.record(tasks["us"], RawResult(COLUMNS, [("new", 2, 2, 2, "closed")]))
    clock.now += 120  # eu's phase is 6 minutes old now: past its 5m expiration
    phases = [line for line in _lines(exported) if line.startswith("shop_phase")]
    assert phases and all('target="us"' in line for line in phases)
    # metrics without expiration keep their series, like query-exporter
    assert 'shop_orders{status="new",target="eu"} 1.0' in _lines(exported)


def test_reload_drops_changed_metrics_and_removed_targets(
    setup: tuple[ExportedMetrics, _Clock, dict]
) -> None:
    exported, _, tasks = setup
    for task in tasks.values():
        exported.record(task, RawResult(COLUMNS, [("new", 1, 1, 1, "open")]))
    changed = _settings(CONFIG.replace("Orders by status", "Orders per status")
                        .replace("tags: [shop]}\n  - {name: us", "tags: [shop]}\n  - {name: us_"))
    exported.configure(plan.tasks(changed.checks, changed.targets))
    lines = _lines(exported)
    assert not [line for line in lines if line.startswith("shop_orders")]  # redefined
    assert 'shop_amount_total{status="new",target="eu"} 1.0' in lines
    assert not [line for line in lines if 'target="us"' in line]  # target gone


def test_metric_config_problems() -> None:
    text = textwrap.dedent("""
        targets: [{name: db, dsn: "sqlite:///x.db"}]
        checks:
          - name: a
            target: db
            sql: SELECT 1 AS x
            warning: "> 1"
            metrics:
              - {name: "bad name"}
              - {name: planwatch_x}
              - {name: h, type: histogram, buckets: [2, 1]}
              - {name: e, type: enum}
              - {name: g, type: gauge, states: [a], increment: true}
              - {name: dup}
          - {name: b, target: db, sql: SELECT 1, warning: "> 1", metrics: [{name: dup}]}
          - {name: c, target: db, sql: DELETE FROM t, result: nonquery, metrics: [{name: n}]}
    """)
    with pytest.raises(ConfigError) as caught:
        _settings(text)
    assert dict(caught.value.problems) == {
        "checks[0].metrics[0].name": "String should match pattern "
        "'^[a-zA-Z_:][a-zA-Z0-9_:]*$'",
        "checks[0].metrics[1]": "metric names starting with 'planwatch_' are planwatch's own",
        "checks[0].metrics[2]": "'buckets' must be unique and ascending",
        "checks[0].metrics[3]": "type 'enum' needs 'states' (and only it takes them)",
        "checks[0].metrics[4]": "type 'enum' needs 'states' (and only it takes them)",
        "checks[1].metrics[0].name": "duplicate metric name 'dup' "
        "(also checks[0].metrics[5].name)",
        "checks[2]": "'metrics' need result rows; result 'nonquery' has none",
    }
