"""Fleet mode: two `planwatch run` workers on PostgreSQL storage share the targets through
leases, run singleton jobs once, and a killed worker's targets move to the survivor."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from planwatch.devtools.pgcluster import PgCluster
from planwatch.model.alerts import Alert
from planwatch.storage import alerts, leases, worker_metrics
from planwatch.storage.engine import Storage
from planwatch.storage.tables import job_runs, workers
from polling import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TARGETS = ["t1", "t2", "t3", "t4"]
HEARTBEAT_S = 1
LEASE_TTL_S = 4 * HEARTBEAT_S


@pytest.fixture
def fleet_config(tmp_path: Path, pg_cluster: PgCluster, pg_database: str) -> Iterator[Path]:
    pg_cluster.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", pg_database)
    storage_db = f"{pg_database}_storage"
    pg_cluster.psql(f"CREATE DATABASE {storage_db}")
    config = {
        "storage": {"url": pg_cluster.url(storage_db)},
        "targets": [{"name": n, "engine": "postgresql", "dsn": pg_cluster.dsn(pg_database),
                     "plan_capture": False} for n in TARGETS],
        "scheduling": {
            "jitter": "0s",
            "heartbeat": {"interval": f"{HEARTBEAT_S}s"},
            "collection": {"interval": "1s", "startup_delay": "0s"},
            "analysis": {"interval": "1s", "startup_delay": "0s"},
        },
        "http": {"enabled": False},
        "logging": {"format": "json"},
    }
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(config))
    yield path
    pg_cluster.psql(f"DROP DATABASE IF EXISTS {storage_db} WITH (FORCE)")


@pytest.fixture
def start_worker(
    fleet_config: Path, tmp_path: Path
) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PLANWATCH_WORKER__NAME": name}
        # the child has its own copy of the descriptor: the parent's is closed once it started
        with (tmp_path / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "planwatch", "-c", str(fleet_config), "run",
                 "--workers", "1"],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> None:
    wait_until(check, timeout, 0.25, what=what)


def target_holders(st: Storage) -> dict[str, str]:
    now = datetime.now(UTC)
    return {k.removeprefix("target:"): v for k, v in leases.holders(st, now, "target:").items()}


def worker_ids(st: Storage) -> dict[str, tuple[str, str]]:
    """instance id -> (name, status)"""
    with st.connect() as conn:
        rows = conn.execute(sa.select(workers.c.instance_id, workers.c.name, workers.c.status))
        return {r.instance_id: (r.name, r.status) for r in rows}


def runs_by_worker(st: Storage, job: str, since: datetime) -> dict[str, int]:
    stmt = (sa.select(job_runs.c.worker_id, sa.func.count())
            .where(job_runs.c.job_name == job, job_runs.c.started_at >= since)
            .group_by(job_runs.c.worker_id))
    with st.connect() as conn:
        return {w: n for w, n in conn.execute(stmt).all()}


def collection_data(st: Storage, target: str, since: datetime) -> list[dict[str, object]]:
    """The data of a target's completed collection runs since `since`, oldest first."""
    stmt = (sa.select(job_runs.c.data)
            .where(job_runs.c.job_name == f"collection:{target}", job_runs.c.started_at >= since,
                   job_runs.c.status == "Completed")
            .order_by(job_runs.c.started_at))
    with st.connect() as conn:
        return [dict(d or {}) for (d,) in conn.execute(stmt).all()]


def analysed_by_worker(st: Storage, since: datetime) -> dict[str, set[str]]:
    """The targets each worker's completed analysis runs covered."""
    stmt = (sa.select(job_runs.c.worker_id, job_runs.c.data)
            .where(job_runs.c.job_name == "analysis", job_runs.c.started_at >= since,
                   job_runs.c.status == "Completed"))
    out: dict[str, set[str]] = {}
    with st.connect() as conn:
        for worker, data in conn.execute(stmt).all():
            out.setdefault(worker, set()).update((data or {}).get("targets", {}))
    return out


def test_two_workers_share_targets_and_survive_a_killed_peer(
    fleet_config: Path, start_worker: Callable[[str], subprocess.Popen[bytes]]
) -> None:
    url = yaml.safe_load(fleet_config.read_text())["storage"]["url"]
    st = Storage.open(url)
    st.migrate()
    first = start_worker("alpha")
    try:
        wait_for("alpha to hold every target", lambda: len(target_holders(st)) == 4, 30)
        second = start_worker("beta")
        wait_for("the targets to be split 2/2", lambda: sorted(
            list(target_holders(st).values()).count(w) for w in set(target_holders(st).values())
        ) == [2, 2], 30)
        names = {i: n for i, (n, _) in worker_ids(st).items()}
        split_at = datetime.now(UTC)

        def worked() -> bool:  # the evidence the assertions below judge has been written
            snaps = worker_metrics.recent(st)
            return (all(runs_by_worker(st, f"collection:{t}", split_at)
                        for t in target_holders(st))
                    and set(analysed_by_worker(st, split_at)) == set(names)
                    and {m.worker_id for m in snaps} == set(names)
                    and max(m.jobs_run for m in snaps) > 0)

        wait_for("every target collected, every worker analysing and snapshotted", worked, 30)
        # Each target is collected and analysed by its lease holder only (work follows the
        # target): every worker analyses, each exactly the targets it holds.
        holders = target_holders(st)
        for target, owner in holders.items():
            collected = runs_by_worker(st, f"collection:{target}", split_at)
            assert set(collected) == {owner}, (target, collected, names)
        analysed = analysed_by_worker(st, split_at)
        assert set(analysed) == set(names)
        for worker, done in analysed.items():
            assert done == {t for t, w in holders.items() if w == worker}, (worker, done)
        snapshots = worker_metrics.recent(st)  # each worker snapshots itself every lease TTL
        assert {m.worker_id for m in snapshots} == set(names)
        assert all(m.memory_rss_bytes and m.memory_rss_bytes > 10_000_000 for m in snapshots)
        assert max(m.jobs_run for m in snapshots) > 0

        beta = next(i for i, n in names.items() if n == "beta")
        moved = sorted(t for t, w in target_holders(st).items() if w == beta)
        second.send_signal(signal.SIGKILL)  # a crash: no clean hand-over
        second.wait(timeout=10)
        killed_at, killed_wall = time.monotonic(), datetime.now(UTC)
        wait_for("alpha to take beta's targets",
                 lambda: set(target_holders(st).values()) == {first_id(names)}, 3 * LEASE_TTL_S)
        assert time.monotonic() - killed_at <= LEASE_TTL_S + 3 * HEARTBEAT_S + 2
        # No interval lost: alpha's polls of each moved target measure from the snapshot
        # beta stored with its last samples, never starting over (a first poll). (A collector
        # alpha kept from when it held the target before is refused by storage once and
        # replaced: that run stores nothing and says so.)
        def polls(target: str) -> list[object]:
            return [d["first_poll"] for d in collection_data(st, target, killed_wall)
                    if "first_poll" in d]

        wait_for("alpha to collect the moved targets", lambda: all(polls(t) for t in moved), 30)
        for target in moved:
            assert not any(polls(target)), target
        wait_for("beta to be marked Dead", lambda: worker_ids(st)[beta][1] == "Dead", 10)
        assert first.poll() is None  # the survivor kept running throughout

        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=15) == 0
        assert target_holders(st) == {}  # a clean stop hands its leases back at once
        assert worker_ids(st)[first_id(names)][1] == "Stopped"
    finally:
        st.close()


def first_id(names: dict[str, str]) -> str:
    return next(i for i, n in names.items() if n == "alpha")


def test_a_dead_worker_is_one_alert_raised_by_a_survivor_and_resolved_when_it_returns(
    fleet_config: Path, start_worker: Callable[[str], subprocess.Popen[bytes]]
) -> None:
    url = yaml.safe_load(fleet_config.read_text())["storage"]["url"]
    st = Storage.open(url)
    st.migrate()
    procs = {name: start_worker(name) for name in ("alpha", "beta", "gamma")}
    try:
        wait_for("three running workers, every target held", lambda: len(target_holders(st))
                 == 4 and [s for _, s in worker_ids(st).values()].count("Running") == 3, 60)
        wait_for("a worker watching the others", lambda: watcher(st) is not None, 30)
        # Kill the very worker that watches: a survivor must take the watch over.
        victim = worker_ids(st)[watcher(st) or ""][0]
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait(timeout=10)
        key = f"health:planwatch::worker:{victim}"
        wait_for("the dead-worker alert", lambda: bool(dead_alerts(st, key)), 6 * LEASE_TTL_S)
        (alert,) = dead_alerts(st, key)
        assert alert.status.value == "open" and alert.severity.value == "warning"
        assert f"worker {victim} " in alert.title and "is dead" in alert.title
        survivor = worker_ids(st)[watcher(st) or ""][0]
        assert survivor != victim
        # Re-evaluated every heartbeat by the watcher, yet one alert with one opening.
        first_seen = alert.evaluated_at
        wait_for("more evaluations", lambda: (dead_alerts(st, key)[0].evaluated_at or T0)
                 > (first_seen or T0) + timedelta(seconds=3 * HEARTBEAT_S), 30)
        assert [e.event for e in alerts.events(st, alert.id or 0)] == ["opened"]

        procs[victim] = start_worker(victim)  # it comes back under its name
        wait_for("the alert resolved", lambda: dead_alerts(st, key)[0].status.value
                 == "resolved", 60)
        (alert,) = dead_alerts(st, key)
        assert [e.event for e in alerts.events(st, alert.id or 0)] == ["opened", "resolved"]
        assert len(alerts.list_alerts(st, status="open", kind="health")) == 0
    finally:
        st.close()


T0 = datetime(2000, 1, 1, tzinfo=UTC)


def watcher(st: Storage) -> str | None:
    """The instance id holding the dead-worker watch."""
    return leases.holders(st, datetime.now(UTC), "job:worker_watch").get("job:worker_watch")


def dead_alerts(st: Storage, key: str) -> list[Alert]:
    return [a for a in alerts.list_alerts(st, status="all", kind="health") if a.dedup_key == key]


class Endpoint:
    """A local HTTP endpoint that records when it was called."""

    def __init__(self) -> None:
        self.hits: list[float] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                endpoint.hits.append(time.monotonic())
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_an_endpoint_check_runs_on_one_worker_only(
    fleet_config: Path, start_worker: Callable[[str], subprocess.Popen[bytes]]
) -> None:
    endpoint = Endpoint()
    config = yaml.safe_load(fleet_config.read_text())
    config["checks"] = [{"name": "api", "kind": "http", "interval": "2s",
                         "url": f"http://127.0.0.1:{endpoint.port}/ping"}]
    fleet_config.write_text(yaml.safe_dump(config))
    st = Storage.open(config["storage"]["url"])
    st.migrate()
    try:
        start_worker("alpha")
        start_worker("beta")
        wait_for("both workers holding targets",
                 lambda: len(set(target_holders(st).values())) == 2, 60)
        label = f"endpoint:127.0.0.1:{endpoint.port}"
        assert list(leases.holders(st, datetime.now(UTC), "endpoint:")) == [label]
        since = len(endpoint.hits)
        wait_for("eight calls of the endpoint", lambda: len(endpoint.hits) >= since + 8, 60)
        calls = endpoint.hits[since:]
        # Every 2 s from one worker: a second worker probing too would put two calls
        # within a second of each other somewhere.
        gaps = [b - a for a, b in itertools.pairwise(calls)]
        assert min(gaps) > 1.0, gaps
        assert (calls[-1] - calls[0]) / (len(calls) - 1) > 1.5
    finally:
        endpoint.server.shutdown()
        endpoint.server.server_close()
        st.close()
