"""How the suite is spread over xdist workers (scripts/test: `-n 3 --dist loadgroup`).

- Every module under tests/integration, tests/e2e and tests/migration is one xdist group: its
  module-scoped servers start once, on one worker. Unit tests (and the long tests of
  ONE_BY_ONE modules, which start no server of their own) are spread one by one.
- The longest files come first, so no worker starts one of them when the rest is nearly done.
- The timing-sensitive scenario files share one group (they run one after another on one
  worker) so that they never run alongside each other; the other workers go on meanwhile.

Without xdist the order is used as it is and the groups do nothing.
"""

from __future__ import annotations

import pytest

from marker_policy import SERVER_DIRS, TESTS

# Longest first (seconds of one run alone, load 3-5; docs/benchmarks.md "Test suite").
LONGEST_FIRST = (
    "e2e/test_detection_scenarios.py",  # ~160 s, then test_mariadb_scenarios.py (same group)
    "e2e/test_mariadb_scenarios.py",  # ~75 s
    "e2e/test_storage_outage.py",  # ~130 s: two minutes of storage down
    "e2e/test_container.py",  # ~40 s, more when the image's layers are not cached
    "e2e/test_failures.py",  # ~95 s
    "e2e/test_regression_scenarios.py",  # ~75 s
    "integration/alerting/test_retention.py",  # 2 x ~30 s (a million samples per backend)
    "e2e/test_fleet.py",  # ~55 s
    "e2e/test_supervisor.py",
    "integration/web/test_api_fuzz.py",
    "e2e/test_delivery_signals.py",
    "e2e/browser/test_dashboard_browser.py",
    "e2e/test_cli.py",
    "e2e/test_cli_usage.py",
)
# Scenario runs that judge detection latency against real time: never two at once.
TIMING_SENSITIVE = frozenset({
    "e2e/test_detection_scenarios.py",
    "e2e/test_mariadb_scenarios.py",
})
# Modules without module-scoped servers whose tests are long each: spread test by test.
ONE_BY_ONE = frozenset({"integration/alerting/test_retention.py"})
TIMING_GROUP = "timing-sensitive"


def _relpath(item: pytest.Item) -> str:
    try:
        return item.path.resolve().relative_to(TESTS).as_posix()
    except ValueError:
        return item.path.as_posix()


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_relpath(item), len(rank)))  # stable: files intact
    for item in items:
        path = _relpath(item)
        if (path.split("/")[0] not in SERVER_DIRS or path in ONE_BY_ONE
                or item.get_closest_marker("xdist_group")):
            continue
        group = TIMING_GROUP if path in TIMING_SENSITIVE else path
        item.add_marker(pytest.mark.xdist_group(group))
