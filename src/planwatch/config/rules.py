"""Rules that span sections: unique names and references between sections.

They run on the raw (interpolated) tree rather than on the validated model, so a bad
field somewhere else does not hide them: every problem is reported in one pass. Shapes
the schema rejects anyway (a list that is not a list, a name that is not a string) are
skipped here.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from planwatch.config.problems import Loc, Problem, format_loc


def check(raw: dict[str, Any]) -> list[Problem]:
    """All cross-section problems of a raw config tree."""
    targets = _items(raw, "targets")
    checks = _items(raw, "checks")
    section = raw.get("alerting")
    alerting: dict[str, Any] = section if isinstance(section, dict) else {}
    channels = _items(alerting, "channels")
    problems = [
        *_duplicates(targets, ("targets",), "target"),
        *_duplicates(checks, ("checks",), "check"),
        *_duplicates(channels, ("alerting", "channels"), "channel"),
        *_check_targets(checks, _names(targets)),
        *_metric_names(checks),
        *_escalation_channels(alerting, _names(channels)),
    ]
    return problems


def _items(section: Any, key: str) -> list[tuple[int, dict[str, Any]]]:
    value = section.get(key) if isinstance(section, dict) else None
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _names(items: list[tuple[int, dict[str, Any]]]) -> set[str]:
    return {item["name"] for _, item in items if isinstance(item.get("name"), str)}


def _duplicates(items: list[tuple[int, dict[str, Any]]], loc: Loc, what: str) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for i, item in items:
        name = item.get("name")
        if not isinstance(name, str):
            continue
        if name in first:
            where = format_loc((*loc, first[name]))
            yield (*loc, i, "name"), f"duplicate {what} name {name!r} (also {where})"
        else:
            first[name] = i


def _check_targets(checks: list[tuple[int, dict[str, Any]]], known: set[str]) -> Iterator[Problem]:
    for i, item in checks:
        single = item.get("target")
        if isinstance(single, str) and single not in known:
            yield ("checks", i, "target"), _unknown("target", single, known)
        many = item.get("targets")
        for k, name in enumerate(many if isinstance(many, list) else []):
            if isinstance(name, str) and name not in known:
                yield ("checks", i, "targets", k), _unknown("target", name, known)


def _metric_names(checks: list[tuple[int, dict[str, Any]]]) -> Iterator[Problem]:
    """A metric name belongs to one check: two definitions could disagree on type or labels."""
    first: dict[str, Loc] = {}
    for i, item in checks:
        metrics = item.get("metrics")
        for k, metric in enumerate(metrics if isinstance(metrics, list) else []):
            name = metric.get("name") if isinstance(metric, dict) else None
            if not isinstance(name, str):
                continue
            loc: Loc = ("checks", i, "metrics", k, "name")
            if name in first:
                yield loc, f"duplicate metric name {name!r} (also {format_loc(first[name])})"
            else:
                first[name] = loc


def _escalation_channels(alerting: dict[str, Any], known: set[str]) -> Iterator[Problem]:
    escalation = alerting.get("escalation")
    names = escalation.get("channels") if isinstance(escalation, dict) else None
    for k, name in enumerate(names if isinstance(names, list) else []):
        if isinstance(name, str) and name not in known:
            loc = ("alerting", "escalation", "channels", k)
            yield loc, _unknown("channel", name, known, section="alerting.channels")


def _unknown(what: str, name: str, known: set[str], *, section: str = "") -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {what} {name!r}: not defined in {section or what + 's'}{hint}"
