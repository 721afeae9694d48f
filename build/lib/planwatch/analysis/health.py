"""Collector health as findings: when the statistics themselves cannot be trusted.

Components (the alert subject): `evictions` (entries evicted between polls: some intervals
are incomplete), `capacity` (statement table >= 90% full: evictions are coming), `reset`
(statistics reset or server restart: that interval has no deltas), `missed_polls`, and one
`warning:<topic>` per collector warning, where the topic is the text before the first colon
(`role lacks pg_read_all_stats: ...` -> `warning:role lacks pg_read_all_stats`), so the same
warning on every poll keeps updating one alert.
"""

from __future__ import annotations

from planwatch.model.findings import HealthFinding, Severity
from planwatch.model.samples import CollectorHealth

CAPACITY_SHARE = 0.9
_TOPIC_CHARS = 60


def collector_findings(h: CollectorHealth) -> list[HealthFinding]:
    """Every problem the collector reported for one poll, as findings."""
    found: list[HealthFinding] = []
    if h.evicted > 0:
        found.append(_finding(h, "evictions", (
            f"{h.evicted} statement entries were evicted since the previous poll; statistics "
            "of some queries are incomplete (raise pg_stat_statements.max or equivalent)")))
    if h.max_entries and h.entries >= CAPACITY_SHARE * h.max_entries:
        share = h.entries / h.max_entries
        found.append(_finding(h, "capacity", (
            f"statement statistics are {share:.0%} full ({h.entries} of {h.max_entries} "
            "entries); new queries will evict old ones")))
    if h.reset or h.restarted:
        cause = "the server restarted" if h.restarted else "statistics were reset"
        found.append(_finding(h, "reset", (
            f"{cause} since the previous poll; this interval has no usable deltas")))
    if h.missed_polls > 0:
        found.append(_finding(h, "missed_polls", (
            f"{h.missed_polls} poll(s) were missed; the interval covers more time than "
            "scheduled")))
    found += [_finding(h, _warning_component(w), w) for w in h.warnings]
    return found


def _finding(h: CollectorHealth, component: str, message: str) -> HealthFinding:
    return HealthFinding(h.target, component, Severity.WARNING, message)


def _warning_component(text: str) -> str:
    topic = text.split(":", 1)[0].strip()[:_TOPIC_CHARS] or "collector"
    return f"warning:{topic}"
