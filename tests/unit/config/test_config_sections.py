"""Per-section rules: checks, scheduling entries, alerting, silences."""

from __future__ import annotations

from collections.abc import Callable
from datetime import time, timedelta

import pytest

from planwatch.config.settings import Settings

LoadText = Callable[..., Settings]
Problems = Callable[..., dict[str, str]]

TARGETS = """
targets:
  - {name: a, dsn: "postgresql://a/db", tags: [prod]}
  - {name: b, dsn: "mysql+pymysql://b/db"}
"""


def _checks(body: str) -> str:
    return TARGETS + "checks:\n" + body


def test_check_selectors_and_schedules(load_text: LoadText) -> None:
    settings = load_text(
        _checks(
            """
  - {name: one, target: a, sql: select 1, operator: eq, expected: 1, cron: "*/5 * * * *"}
  - {name: many, targets: [a, b], sql: select 1, warning: "> 1", interval: 30s}
  - name: tagged
    tags: [prod]
    sql: select kind, n from t
    result: dataset
    value_column: n
    label_columns: [kind]
    critical: ">= 100"
    timeout: 5s
    description: rows per kind
    runbook_url: https://runbooks.example/kinds
  - {name: job, tags: [prod], sql: "analyze", result: nonquery}
"""
        )
    )
    one, many, tagged, job = settings.checks
    assert (one.targets, one.operator, one.expected) == (("a",), "eq", 1)
    assert (one.cron, one.interval) == ("*/5 * * * *", None)
    assert (many.targets, many.interval) == (("a", "b"), timedelta(seconds=30))
    assert (tagged.tags, tagged.targets, tagged.result) == (("prod",), (), "dataset")
    assert (tagged.value_column, tagged.label_columns) == ("n", ("kind",))
    assert tagged.timeout == timedelta(seconds=5)
    assert tagged.runbook_url == "https://runbooks.example/kinds"
    assert (job.result, job.warning, job.critical, job.operator) == ("nonquery", None, None, None)


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ("{name: c, sql: s, warning: '> 1'}",
         "give exactly one of 'target', 'targets', 'tags'"),
        ("{name: c, target: a, tags: [prod], sql: s, warning: '> 1'}",
         "give exactly one of 'target', 'targets', 'tags' (found target, tags)"),
        ("{name: c, target: a, sql: s}",
         "give 'operator' + 'expected' or a 'warning'/'critical' threshold"),
        ("{name: c, target: a, sql: s, operator: eq}", "'operator' and 'expected' go together"),
        ("{name: c, target: a, sql: s, operator: eq, expected: 1, warning: '> 1'}",
         "give either 'operator' + 'expected' or 'warning'/'critical'"),
        ("{name: c, target: a, sql: s, operator: gt, expected: lots}",
         "operator 'gt' needs a numeric 'expected'"),
        ("{name: c, target: a, sql: s, result: dataset, warning: '> 1'}",
         "result 'dataset' needs 'value_column'"),
        ("{name: c, target: a, sql: s, value_column: n, warning: '> 1'}",
         "'value_column' and 'label_columns' are only for result 'dataset'"),
    ],
)  # fmt: skip
def test_check_rules(problems: Problems, check: str, message: str) -> None:
    assert problems(_checks(f"  - {check}\n")) == {"checks[0]": message}


def test_check_field_problems(problems: Problems) -> None:
    found = problems(_checks("  - {name: c, target: a, sql: '', result: table, warning: 5}\n"))
    assert found == {
        "checks[0].sql": "String should have at least 1 character",
        "checks[0].result": "Input should be 'scalar', 'rowcount', 'dataset' or 'nonquery'",
        "checks[0].warning": 'a threshold is a quoted string such as "> 1000"',
    }


def test_duplicate_check_and_channel_names(problems: Problems) -> None:
    found = problems(
        _checks(
            """
  - {name: c, target: a, sql: s, warning: "> 1"}
  - {name: c, target: b, sql: s, warning: "> 1"}
alerting:
  channels:
    - {name: ops, url: "json://a"}
    - {name: ops, url: "json://b"}
"""
        )
    )
    assert found == {
        "checks[1].name": "duplicate check name 'c' (also checks[0])",
        "alerting.channels[1].name": "duplicate channel name 'ops' (also alerting.channels[0])",
    }


def test_scheduling_entries_fall_back_to_defaults(load_text: LoadText) -> None:
    settings = load_text(
        """
        scheduling:
          collection: {startup_delay: 0s}
          analysis: {cron: "*/10 * * * *"}
          daily_summary: {at: "06:15", enabled: false}
          heartbeat: {interval: PT5S}
          checks: {interval: 5s}
          backoff: {initial: 10s, multiplier: 3, max: 5m}
          max_parallel_targets: 2
          jitter: 0s
        """
    )
    jobs = settings.scheduling.jobs
    assert jobs["collection"].interval == timedelta(minutes=5)
    assert jobs["collection"].startup_delay == timedelta(0)
    assert (jobs["analysis"].cron, jobs["analysis"].interval) == ("*/10 * * * *", None)
    assert jobs["analysis"].startup_delay == timedelta(seconds=30)
    assert (jobs["daily_summary"].at, jobs["daily_summary"].enabled) == (time(6, 15), False)
    assert jobs["heartbeat"].interval == timedelta(seconds=5)
    assert jobs["checks"].interval == timedelta(seconds=5)
    backoff = settings.scheduling.backoff
    assert (backoff.initial, backoff.multiplier, backoff.max) == (
        timedelta(seconds=10), 3.0, timedelta(minutes=5),
    )  # fmt: skip
    assert settings.scheduling.max_parallel_targets == 2
    assert settings.scheduling.jitter == timedelta(0)


def test_scheduling_problems(problems: Problems) -> None:
    found = problems(
        """
        scheduling:
          collection: {interval: 1m, at: "02:00"}
          analysis: {startup_delay: -5}
          backoff: {initial: 5m, max: 1m}
          max_consecutive_failures: 0
        """
    )
    assert found == {
        "scheduling.collection": "give only one of 'interval', 'at', 'cron' (found interval, at)",
        "scheduling.analysis.startup_delay": "must not be negative",
        "scheduling.backoff": "'max' must not be shorter than 'initial'",
        "scheduling.max_consecutive_failures": "Input should be greater than or equal to 1",
    }


def test_alerting_section(load_text: LoadText) -> None:
    settings = load_text(
        """
        alerting:
          channels:
            - name: ops
              url: "webhook+https://hooks.example/x"
              min_severity: critical
              kinds: [regression, check]
              tags: [prod]
            - {name: pager, url: "pagerduty://key"}
          repeat_interval: 1h
          escalation: {after: 30m, channels: [pager]}
          auto_resolve_after: 2h
          silences:
            - matchers: {target: a, check_id: 12}
              starts_at: 2024-05-01T00:00:00Z
              ends_at: "2024-05-01T04:00:00+02:00"
              comment: upgrade
        """
    )
    alerting = settings.alerting
    ops = alerting.channels[0]
    assert (ops.min_severity, ops.kinds) == ("critical", ("regression", "check"))
    assert ops.tags == ("prod",)
    assert alerting.repeat_interval == timedelta(hours=1)
    assert (alerting.escalation.after, alerting.escalation.channels) == (
        timedelta(minutes=30), ("pager",),
    )  # fmt: skip
    assert alerting.auto_resolve_after == timedelta(hours=2)
    (silence,) = alerting.silences
    assert silence.matchers == {"target": "a", "check_id": "12"}
    assert silence.starts_at == "2024-05-01T00:00:00+00:00"
    assert silence.ends_at == "2024-05-01T02:00:00+00:00"
    assert silence.comment == "upgrade"


def test_alerting_problems(problems: Problems) -> None:
    found = problems(
        """
        alerting:
          channels: [{name: ops, url: "json://x", min_severity: info, kinds: [page]}]
          silences:
            - matchers: {}
            - matchers: {target: a}
              starts_at: 2024-05-02T00:00:00Z
              ends_at: 2024-05-01T00:00:00Z
        """
    )
    assert found == {
        "alerting.channels[0].min_severity": "Input should be 'warning' or 'critical'",
        "alerting.channels[0].kinds[0]": (
            "Input should be 'regression', 'hotspot', 'check' or 'health'"
        ),
        "alerting.silences[0].matchers": "Dictionary should have at least 1 item after "
        "validation, not 0",
        "alerting.silences[1]": "'ends_at' must be after 'starts_at'",
    }


def test_retention_http_logging_worker(load_text: LoadText) -> None:
    settings = load_text(
        """
        retention: {samples: 7, check_results: 8, job_runs: 9, resolved_alerts: 10, batch_size: 100}
        http: {enabled: false, host: 0.0.0.0, port: 0, token: abc, public_read: true}
        logging: {level: WARNING, format: json}
        worker: {name: w1, environment: staging}
        """
    )
    retention = settings.retention
    assert (retention.samples_days, retention.check_results_days) == (7, 8)
    assert (retention.job_runs_days, retention.resolved_alerts_days) == (9, 10)
    assert retention.batch_size == 100
    http = settings.http
    assert (http.enabled, http.host, http.port, http.public_read) == (False, "0.0.0.0", 0, True)
    assert http.token is not None and http.token.reveal() == "abc"
    assert (settings.logging.level, settings.logging.format) == ("warning", "json")
    assert (settings.worker_name, settings.environment) == ("w1", "staging")


def test_target_fields(load_text: LoadText) -> None:
    settings = load_text(
        """
        targets:
          - name: orders
            engine: postgres
            dsn: host=db dbname=orders
            databases: [orders, billing]
            environment: prod
            tags: [eu]
            enabled: false
            connect_timeout: 3s
            command_timeout: 1m
            plan_capture: false
            plan_budget: 5
            explain_per_query_per_hour: 1
          - {name: legacy, engine: oracle, dsn: "oracle+oracledb://u:p@h/x"}
        """
    )
    orders = settings.target("orders")
    assert (orders.engine, orders.databases, orders.environment) == (
        "postgresql", ("orders", "billing"), "prod",
    )  # fmt: skip
    assert (orders.tags, orders.enabled, orders.plan_capture) == (("eu",), False, False)
    assert (orders.connect_timeout, orders.command_timeout) == (
        timedelta(seconds=3), timedelta(minutes=1),
    )  # fmt: skip
    assert (orders.plan_budget, orders.explain_per_query_per_hour) == (5, 1)
    assert settings.target("legacy").engine == "oracle"


def test_target_problems(problems: Problems) -> None:
    found = problems(
        """
        targets:
          - {name: a}
          - {name: b, dsn: "somewhere"}
          - {name: c, dsn: "host=h", engine: "no such!", plan_budget: -1}
        """
    )
    assert found == {
        "targets[0].dsn": "required",
        "targets[1]": "cannot infer 'engine' from the dsn; set engine: postgresql, mysql, ...",
        "targets[2].engine": "invalid engine 'no such!'; expected e.g. postgresql, mysql, sqlite",
        "targets[2].plan_budget": "Input should be greater than or equal to 0",
    }


KNOWN = "(known: mariadb, mysql, oracle, postgresql, sqlite, sqlserver)"


def test_unknown_engines_and_dsn_schemes_are_errors(problems: Problems) -> None:
    """A typo must not turn a target into a never-collected checks-only one."""
    found = problems(
        """
        storage: {url: "nosuch://planwatch:store-pw@h/pw"}
        targets:
          - {name: a, engine: postgress, dsn: "host=h"}
          - {name: b, dsn: "nosuch://u:very-secret@h/db"}
          - {name: c, dsn: "postgresq://u@h/db"}
          - {name: d, dsn: "oracle+nosuchdriver://u@h/db"}
          - {name: e, engine: mysql, dsn: "mysqll+pymysql://u@h/db"}
        """
    )
    assert found == {
        "storage.url": "no installed SQLAlchemy dialect for 'nosuch'; use sqlite:/// or "
        "postgresql+psycopg://",
        "targets[0].engine": f"unknown engine 'postgress'; did you mean 'postgresql'? {KNOWN}",
        "targets[1].dsn": f"unknown scheme 'nosuch' in the dsn {KNOWN}",
        "targets[2].dsn": f"unknown scheme 'postgresq' in the dsn; did you mean 'postgresql'? "
        f"{KNOWN}",
        "targets[3].dsn": "no installed SQLAlchemy dialect for 'oracle+nosuchdriver' in the dsn",
        "targets[4].dsn": f"unknown scheme 'mysqll+pymysql' in the dsn; did you mean 'mysql'? "
        f"{KNOWN}",
    }
    assert "secret" not in repr(found) and "store-pw" not in repr(found)


def test_known_engines_include_aliases_and_sqlalchemy_dialects(load_text: LoadText) -> None:
    settings = load_text(
        """
        targets:
          - {name: a, engine: pg, dsn: "postgres://u@h/db"}
          - {name: b, dsn: "mssql+pymssql://u@h/db"}
          - {name: c, dsn: "oracle+oracledb://u@h/db"}
          - {name: d, engine: MariaDB, dsn: "mariadb+pymysql://u@h/db"}
        """
    )
    assert [t.engine for t in settings.targets] == ["postgresql", "sqlserver", "oracle", "mariadb"]


def test_analysis_section(load_text: LoadText, problems: Problems) -> None:
    settings = load_text(
        "analysis:\n  regression: {min_impact: 500ms, window: 5m}\n  hotspots: {top_n: 3}\n"
    )
    assert settings.analysis.regression.min_impact == timedelta(milliseconds=500)
    assert settings.analysis.regression.window == timedelta(minutes=5)
    assert settings.analysis.hotspots.top_n == 3
    found = problems("analysis:\n  regression: {min_ratio: 3, critical_ratio: 2, p_value: 1}\n")
    assert found == {"analysis.regression.p_value": "Input should be less than 1"}
    found = problems("analysis:\n  regression: {min_ratio: 3, critical_ratio: 2}\n")
    assert found == {"analysis.regression": "'critical_ratio' must not be below 'min_ratio'"}


def test_alerting_grouping_for_and_resolve_after(load_text: LoadText) -> None:
    settings = load_text(
        """
        alerting:
          for: 10m
          resolve_after: 3
          channels:
            - {name: team, url: "slack://x", group_by: [target], group_wait: 0s,
               group_interval: 2m, repeat_interval: 1h}
            - {name: am, url: "alertmanager+http://am:9093", repeat_interval: 30s}
            - {name: plain, url: "json://y"}
        checks:
          - {name: c, target: db, sql: "SELECT 1", warning: "> 1", for: 0s, resolve_after: 1}
        targets: [{name: db, dsn: "postgresql://x/y"}]
        """,
        PLANWATCH_ALERTING__RESOLVE_AFTER="4",
    )
    a = settings.alerting
    assert (a.for_, a.resolve_after) == (timedelta(minutes=10), 4)
    team, am, plain = a.channels
    assert (team.group_by, team.group_wait, team.group_interval, team.repeat_interval) == (
        ("target",), timedelta(0), timedelta(minutes=2), timedelta(hours=1))
    assert am.repeat_interval == timedelta(seconds=30) and am.group_by is None
    assert (plain.group_by, plain.group_wait) == (None, None)
    (check,) = settings.checks
    assert (check.for_, check.resolve_after) == (timedelta(0), 1)
    assert load_text("alerting: {}\n", PLANWATCH_ALERTING__FOR="5m").alerting.for_ == (
        timedelta(minutes=5))


def test_alerting_grouping_problems(problems: Problems) -> None:
    found = problems(
        """
        alerting:
          for: -1m
          resolve_after: 0
          channels:
            - {name: am, url: "alertmanager+http://am:9093", group_by: [target], group_wait: 5s}
            - {name: t, url: "slack://x", group_by: [colour]}
            - {name: u, url: "slack://x", group_by: ["...", target]}
        """
    )
    assert found == {
        "alerting.for": "invalid duration '-1m'; use e.g. 30s, 5m, 2h, 1d, 1h30m, ISO-8601 "
        "PT5M, or a number of seconds",
        "alerting.resolve_after": "Input should be greater than or equal to 1",
        "alerting.channels[0]": "group_by, group_wait: Alertmanager groups alerts itself; set "
        "grouping in its route, not on this channel",
        "alerting.channels[1].group_by[0]": "Input should be 'kind', 'target', 'database', "
        "'severity', 'subject', 'query_id' or '...'",
        "alerting.channels[2]": "group_by: '...' (every alert on its own) stands alone",
    }
