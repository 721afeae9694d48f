"""Check definitions in the config: endpoint checks, max_parallel_checks, path-precise errors."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from planwatch.checks import plan
from planwatch.config import loader
from planwatch.config.settings import Settings
from planwatch.errors import ConfigError

TARGETS = """
targets:
  - {name: a, dsn: "postgresql://a/db", tags: [prod]}
  - {name: b, dsn: "mysql+pymysql://b/db", tags: [prod]}
  - {name: c, dsn: "sqlite:///c.db", enabled: false, tags: [prod]}
checks:
"""


def _load(tmp_path: Path, body: str) -> Settings:
    path = tmp_path / "planwatch.yaml"
    path.write_text(TARGETS + textwrap.dedent(body), encoding="utf-8")
    return loader.load(path, environ={})


def _problems(tmp_path: Path, body: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, body)
    return dict(caught.value.problems)


def test_http_check_and_parallelism(tmp_path: Path) -> None:
    s = _load(tmp_path, """\
      - name: api
        kind: http
        url: https://api.example.com/health
        method: head
        expected_status: [200, 204]
        contains: ok
        critical: "> 2000"
        tls_warning_days: 21
        tls_critical_days: 7
        timeout: 5s
      - {name: kpi, tags: [prod], sql: select 1, operator: eq, expected: 1}
    scheduling: {max_parallel_checks: 3}
    """)
    api, _ = s.checks
    assert (api.kind, api.url, api.method, api.expected_status) == (
        "http", "https://api.example.com/health", "HEAD", (200, 204))
    assert (api.contains, api.critical, api.tls_warning_days, api.tls_critical_days) == (
        "ok", "> 2000", 21, 7)
    assert (api.timeout, api.interval, api.verify_tls) == (timedelta(seconds=5),
                                                           timedelta(minutes=1), True)
    assert s.scheduling.max_parallel_checks == 3
    assert [t.key for t in plan.tasks(s.checks, s.targets)] == [
        "api@api.example.com", "kpi@a", "kpi@b"]  # disabled target c left out


def test_max_parallel_checks_defaults_to_5(tmp_path: Path) -> None:
    s = _load(tmp_path, '  - {name: k, target: a, sql: s, warning: "> 1"}\n')
    assert s.scheduling.max_parallel_checks == 5


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ("{name: x, kind: http}", "kind 'http' needs 'url'"),
        ("{name: x, kind: http, url: 'ftp://h/'}", "'url' must start with http:// or https://"),
        ("{name: x, kind: http, url: 'http://h/', tags: [prod]}",
         "kind 'http' takes at most a single 'target' (to label it), not 'targets' or 'tags'"),
        ("{name: x, kind: http, url: 'http://h/', sql: 'select 1', result: rowcount}",
         "'sql', 'result' only apply to checks of kind 'sql'"),
        ("{name: x, target: a, sql: 'select 1', warning: '> 1', url: 'http://h/'}",
         "'url' only apply to checks of kind 'http'"),
        ("{name: x, target: a, warning: '> 1'}", "a SQL check needs 'sql'"),
        ("{name: x, kind: http, url: 'http://h/', tls_warning_days: 3, tls_critical_days: 7}",
         "'tls_warning_days' must not be below 'tls_critical_days'"),
    ],
)  # fmt: skip
def test_check_problems_name_their_item(tmp_path: Path, check: str, message: str) -> None:
    assert _problems(tmp_path, f"  - {check}\n") == {"checks[0]": message}


def test_field_problems_are_path_precise(tmp_path: Path) -> None:
    found = _problems(tmp_path, """\
      - {name: ok, target: a, sql: s, warning: "> 1"}
      - {name: x, kind: http, url: "http://h/", method: FETCH, expected_status: [200, 700]}
      - {name: ok, target: zz, sql: s, critical: "between 1 and 2"}
    """)
    assert found["checks[1].method"].startswith("Input should be 'GET'")
    assert found["checks[1].expected_status[1]"] == "Input should be less than or equal to 599"
    assert found["checks[2].name"] == "duplicate check name 'ok' (also checks[0])"
    assert found["checks[2].target"] == "unknown target 'zz': not defined in targets"
    assert found["checks[2].critical"].startswith("invalid threshold 'between 1 and 2'")
