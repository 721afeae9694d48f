"""A dead worker is a health alert, raised once by a survivor and resolved when it is back.

Run by the heartbeat job of whichever worker holds the `job:worker_watch` lease, so the fleet
judges its dead members exactly once (a killed holder's lease expires and a survivor takes
it over). A worker is known by its name (`worker.name`; `<name>/<i>` under `planwatch run
--workers N`): every start registers a new row, so a name is *down* when its most recent
death (a row marked Dead) was not followed by a start of the same name. The alert is a
warning on target `planwatch`, subject `worker:<name>`: the survivors took its targets over.
A worker that stops cleanly is Stopped, not Dead, and raises nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import structlog

from planwatch.alerting import lifecycle
from planwatch.errors import StorageConflict
from planwatch.jobs.alerts import apply_transitions
from planwatch.jobs.deps import JobDeps
from planwatch.jobs.health_check import SELF
from planwatch.model.alerts import AlertKind
from planwatch.model.findings import HealthFinding, Severity
from planwatch.model.jobs import Worker, WorkerStatus
from planwatch.storage import alerts, workers

log = structlog.get_logger(__name__)

SUBJECT = "worker:"
LEASE = "worker_watch"


def _last_seen(w: Worker) -> datetime:
    return w.last_heartbeat or w.started_at


def findings(rows: Sequence[Worker]) -> list[HealthFinding]:
    """One finding per worker name that died and has not started again since (pure)."""
    by_name: dict[str, list[Worker]] = defaultdict(list)
    for w in rows:
        by_name[w.name].append(w)
    out = []
    for name, incarnations in sorted(by_name.items()):
        dead = [w for w in incarnations if w.status is WorkerStatus.DEAD]
        if not dead:
            continue
        last = max(dead, key=_last_seen)
        if any(w.started_at > _last_seen(last) for w in incarnations):
            continue  # started again since (a supervisor's restart, an operator's)
        out.append(HealthFinding(
            SELF, SUBJECT + name, Severity.WARNING,
            f"worker {name} (host {last.host}, pid {last.pid}) is dead: no heartbeat since "
            f"{_last_seen(last):%Y-%m-%d %H:%M:%S} UTC; the other workers took its targets over"))
    return out


def evaluate(deps: JobDeps, now: datetime) -> None:
    """Blocking: open, keep or resolve the dead-worker alerts."""
    found = findings(workers.list_all(deps.storage))
    active = {a.dedup_key: a for a in alerts.list_alerts(
        deps.storage, status="open", kind=AlertKind.HEALTH.value, target=SELF, limit=100_000)
        if a.subject.startswith(SUBJECT)}
    transitions = lifecycle.health(
        active, found, evaluated_targets=[SELF],
        resolve_after_windows=deps.settings.analysis.regression.resolve_after_windows, now=now,
    )
    try:
        apply_transitions(deps.storage, transitions, actor="worker_watch",
                          repeat_interval=deps.settings.alerting.repeat_interval)
    except StorageConflict:  # a former lease holder opened it a moment ago: it exists once
        log.info("worker_watch.alert_exists")
