"""Keep the `integration` marker honest, so `pytest -m "not integration"` never boots a server.

Two rules, checked before each test runs (a violation fails that test):
- a test in tests/integration, tests/e2e or tests/migration carries the `integration` marker
  (`pytestmark = pytest.mark.integration` in its module);
- a test in tests/unit uses no fixture that starts or needs a throwaway server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SERVER_DIRS = ("integration", "e2e", "migration")
# Fixtures that start a server or hand out a database on one (tests/conftest.py,
# tests/storage_templates.py).
SERVER_FIXTURES = frozenset({
    "pg_cluster", "pg_database", "pg_template", "mariadb_server", "storage_url",
    "empty_storage_url", "storage",
})


def _area(item: pytest.Item) -> str | None:
    try:
        return item.path.resolve().relative_to(TESTS).parts[0]
    except ValueError:
        return None


def problem(item: pytest.Item) -> str | None:
    """Why `item` breaks the marker policy, or None."""
    area = _area(item)
    marked = item.get_closest_marker("integration") is not None
    if area in SERVER_DIRS and not marked:
        return (f"{item.nodeid}: tests under tests/{area} need a throwaway server; add "
                "`pytestmark = pytest.mark.integration` to the module")
    used = sorted(SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    if area == "unit" and used:
        return (f"{item.nodeid}: a unit test uses server fixture(s) {', '.join(used)}; "
                "move it to tests/integration")
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    why = problem(item)
    if why is not None:
        pytest.fail(why, pytrace=False)
