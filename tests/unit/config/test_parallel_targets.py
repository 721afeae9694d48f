"""`scheduling.max_parallel_targets`: a number, or `auto` sized from the targets and polls."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from planwatch.config.settings import Settings

LoadText = Callable[..., Settings]
Problems = Callable[..., dict[str, str]]


def _config(targets: int, scheduling: str = "", disabled: int = 0) -> str:
    rows = [f'  - {{name: t{i}, dsn: "postgresql://h/db{i}"}}' for i in range(targets)]
    rows += [f'  - {{name: off{i}, dsn: "postgresql://h/x{i}", enabled: false}}'
             for i in range(disabled)]
    return "targets:\n" + "\n".join(rows) + "\nscheduling:\n" + (scheduling or "  jitter: 5s\n")


@pytest.mark.parametrize(
    ("targets", "scheduling", "expected"),
    [
        (10, "", 8),  # few targets: the floor
        (2000, "  collection: {interval: 1m}\n", 67),  # ceil(2000 x 2 s / 60 s)
        (3000, "  collection: {interval: 1m}\n", 100),
        (300, "  collection: {interval: 10s}\n", 60),  # shorter polls need more at once
        (1000, "", 8),  # the default collection interval is 5 min: 1000 x 2 / 300 < 8
        (20000, "  collection: {interval: 1m}\n", 256),  # the ceiling
        (2000, "  collection: {interval: 1m}\n  max_parallel_targets: 3\n", 3),  # as given
        (10, "  max_parallel_targets: AUTO\n", 8),
    ],
)
def test_parallel_targets(load_text: LoadText, targets: int, scheduling: str,
                          expected: int) -> None:
    assert load_text(_config(targets, scheduling)).parallel_targets == expected


def test_disabled_targets_do_not_count(load_text: LoadText) -> None:
    settings = load_text(_config(600, "  collection: {interval: 1m}\n", disabled=3000))
    assert settings.parallel_targets == 20


def test_environment_overrides_auto(load_text: LoadText) -> None:
    settings = load_text(_config(10), PLANWATCH_SCHEDULING__MAX_PARALLEL_TARGETS="12")
    assert settings.parallel_targets == 12


@pytest.mark.parametrize("value", ["0", "-2", "many", "1.5", "true"])
def test_bad_values_name_the_field(problems: Problems, value: str) -> None:
    found = problems(_config(1, f"  max_parallel_targets: {value}\n"))
    assert list(found) == ["scheduling.max_parallel_targets"]
    assert "whole number of at least 1 or 'auto'" in found["scheduling.max_parallel_targets"]
