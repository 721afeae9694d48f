"""The detection scenario suite: real changes to real databases under a noisy workload.

One throwaway PostgreSQL cluster; one database per scenario, each a copy of the shop
(`shopload`), each with its own workload and each a target of ONE `planwatch run` process
started fresh, as a user would (SQLite storage, default settings except shortened intervals;
nothing forced: no rebuild, no run-once). Once every scenario's statement has a usable
baseline (read from storage: observation only) and one more window has passed, all changes
are made at once. Per scenario the suite records whether the right query was alerted, when,
with which plan verdict, which other alerts opened (false alerts), and for a recovery how long
auto-resolution took. Used by `bench/detection_scenarios.py` and `tests/e2e`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from planwatch.clock import utcnow
from planwatch.devtools import shopload
from planwatch.devtools.pgcluster import PgCluster, free_port
from planwatch.storage import scenario_reads
from planwatch.storage.engine import Storage


@dataclass(frozen=True, slots=True)
class Timing:
    """planwatch's intervals for the run; the rest of its settings stay at their defaults."""

    collection_s: int = 5
    analysis_s: int = 10
    window_s: int = 30
    min_impact: str = "100ms"
    detect_windows: int = 4  # how long to wait for an alert after the change
    resolve_windows: int = 6  # how long to wait for auto-resolution after recovering
    recover_after_s: int = 20  # how long a recovering scenario stays broken after its alert


@dataclass
class Env:
    """One scenario's database and its workload, for the change to act on."""

    cluster: PgCluster
    database: str
    shop: shopload.Shop
    extras: list[Any] = field(default_factory=list)

    def psql(self, sql: str) -> None:
        self.cluster.psql(sql, self.database)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    shape: str | None  # the statement the change slows down (None: nothing should alert)
    expect: str | None  # the plan verdict a DBA needs ("plan_change", "same_plan"); None
    inject: Callable[[Env], None]
    recover: Callable[[Env], None] | None = None


def _nothing(env: Env) -> None:
    pass


def _double_load(env: Env) -> None:
    env.shop.scale = 2.0


def _hold_locks(env: Env) -> None:
    holder = shopload.LockHolder(env.cluster.dsn(env.database, user="app")).start()
    env.extras.append(holder)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("control", "steady workload, nothing changes", None, None, _nothing),
    Scenario("load_doubling", "twice the arrival rate, same per-call cost", None, None,
             _double_load),
    Scenario("index_dropped", "DROP INDEX orders_customer_id_idx, re-created after the alert",
             "customer_orders", "plan_change",
             lambda env: env.psql("DROP INDEX orders_customer_id_idx"),
             lambda env: env.psql("CREATE INDEX orders_customer_id_idx ON orders (customer_id)")),
    Scenario("wrong_statistics", "DROP STATISTICS shipments_geo (correlated columns) + ANALYZE",
             "tariff", "plan_change",
             lambda env: env.psql("DROP STATISTICS shipments_geo; ANALYZE shipments")),
    Scenario("work_mem_for_role", "ALTER ROLE report IN DATABASE ... SET work_mem = '64kB'",
             "allowed_customers", "plan_change",
             lambda env: env.psql(f"ALTER ROLE report IN DATABASE {env.database} "
                                  "SET work_mem = '64kB'")),
    Scenario("lock_contention", "a transaction keeps the hot inventory rows locked",
             "reserve", "same_plan", _hold_locks),
)


@dataclass
class Outcome:
    """What happened in one scenario."""

    scenario: str
    expected: str | None
    detected: bool = False
    seconds_to_alert: float | None = None  # from the change
    after_onset_s: float | None = None  # from the first slow interval (the change's effect)
    verdict: str | None = None
    summary: str = ""  # the alert when it opened
    final: str = ""  # the same alert at the end of the run (evidence keeps coming in)
    false_alerts: list[str] = field(default_factory=list)  # opened: someone was notified
    dropped_pending: list[str] = field(default_factory=list)  # pending, then normal again
    resolved_after_s: float | None = None

    @property
    def right(self) -> bool:
        """Alerted with the right verdict (or, when nothing should alert, nothing did)."""
        if self.expected is None:
            return not self.false_alerts
        return self.detected and self.verdict == self.expected and not self.false_alerts


@dataclass
class Report:
    outcomes: list[Outcome]
    learning: list[dict[str, Any]]  # per statement: samples and delay to a usable baseline
    plans_captured: dict[str, int]  # per target, over the whole run


def prepare_template(cluster: PgCluster) -> str:
    """The shop schema in a template database, with the roles every scenario uses."""
    name = f"shop_tpl_{uuid.uuid4().hex[:6]}"
    cluster.psql(shopload.ROLES)
    cluster.psql(f"CREATE DATABASE {name}")
    cluster.psql(shopload.SCHEMA, name)
    cluster.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", name)
    if cluster.psql("SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'").strip():
        cluster.psql("CREATE EXTENSION hypopg", name)  # index advice
    cluster.psql(shopload.GRANTS, name)
    return name


def run(
    cluster: PgCluster, workdir: Path, *, scenarios: Sequence[Scenario] = SCENARIOS,
    timing: Timing = Timing(), template: str | None = None,
    log: Callable[[str], None] = print,
) -> Report:
    """Run the scenarios at once (one database each) under one fresh planwatch process."""
    template = template or prepare_template(cluster)
    tag = uuid.uuid4().hex[:6]
    dbs = {s.name: f"sc_{s.name}_{tag}" for s in scenarios}
    for db in dbs.values():
        cluster.psql(f"CREATE DATABASE {db} TEMPLATE {template}")
    cluster.psql("SELECT pg_stat_statements_reset()")
    envs = {name: Env(cluster, db, shopload.Shop(functools.partial(_dsn, cluster, db), seed=i))
            for i, (name, db) in enumerate(dbs.items())}
    config = _write_config(workdir, cluster, dbs, timing)
    storage = Storage.open(f"sqlite:///{workdir / 'planwatch.db'}")
    try:
        with _planwatch(config, workdir) as proc, _workloads(envs):
            started = time.monotonic()
            log(f"learning: {len(scenarios)} targets, collection {timing.collection_s}s, "
                f"analysis {timing.analysis_s}s, window {timing.window_s}s")
            wanted = {s.name: shopload.text_prefix(s.shape) for s in scenarios if s.shape}
            _wait(lambda: scenario_reads.usable(storage, wanted), timeout=900, proc=proc,
                  what="baselines")
            log(f"baselines usable after {time.monotonic() - started:.0f}s; one more window")
            time.sleep(timing.window_s)
            t0 = time.monotonic()
            wall0 = utcnow()
            for s in scenarios:
                s.inject(envs[s.name])
            log(f"changes made at {wall0:%H:%M:%S}; watching for {timing.detect_windows} windows")
            outcomes = _observe(storage, scenarios, envs, timing, t0, wall0, proc, log)
            learned = scenario_reads.learning(storage)
            captured = scenario_reads.explains(storage)
    finally:
        for env in envs.values():
            for extra in env.extras:
                extra.stop()
        storage.close()
        for db in dbs.values():
            with contextlib.suppress(Exception):
                cluster.psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        cluster.psql("DO $$ BEGIN ALTER ROLE report RESET ALL; END $$")
    return Report(outcomes, learned, captured)


def _observe(
    storage: Storage, scenarios: Sequence[Scenario], envs: dict[str, Env], timing: Timing,
    t0: float, wall0: datetime, proc: subprocess.Popen[bytes], log: Callable[[str], None],
) -> list[Outcome]:
    outcomes = {s.name: Outcome(s.name, s.expect) for s in scenarios}
    expected = {s.name: (s, shopload.text_prefix(s.shape)) for s in scenarios if s.shape}
    recovering: dict[str, float] = {}
    deadline = t0 + timing.detect_windows * timing.window_s
    resolve_for = timing.resolve_windows * timing.window_s
    while True:
        _check_alive(proc)
        now = time.monotonic()
        for name, (s, text_prefix) in expected.items():
            out = outcomes[name]
            alert = scenario_reads.alert_for(storage, s.name, text_prefix, wall0)
            if alert is not None and not out.detected:
                out.detected, out.seconds_to_alert = True, round(now - t0, 1)
                out.after_onset_s = _after_onset(alert)
                out.verdict = alert["details"].get("cause")
                out.summary = _summary(alert)
                log(f"  {name}: alerted after {out.seconds_to_alert}s: {out.verdict} "
                    f"{out.summary}")
            if (s.recover is not None and out.seconds_to_alert is not None
                    and name not in recovering
                    and now - t0 >= out.seconds_to_alert + timing.recover_after_s):
                s.recover(envs[name])  # after the evidence (index advice) had time to come
                recovering[name] = now
            if name in recovering and out.resolved_after_s is None and alert is not None \
                    and alert["status"] == "resolved":
                out.resolved_after_s = round(now - recovering[name], 1)
                log(f"  {name}: auto-resolved {out.resolved_after_s}s after recovery")
        waiting_detect = now < deadline and any(not outcomes[n].detected for n in expected)
        waiting_resolve = any(now - at < resolve_for and outcomes[n].resolved_after_s is None
                              for n, at in recovering.items()) or any(
            s.recover is not None and outcomes[n].detected and n not in recovering
            for n, (s, _) in expected.items())
        if not (waiting_detect or waiting_resolve or now < deadline):
            break
        time.sleep(1)
    for s in scenarios:
        out = outcomes[s.name]
        mine = expected[s.name][1] if s.name in expected else None
        out.false_alerts = scenario_reads.false_alerts(storage, s.name, mine)
        out.dropped_pending = scenario_reads.dropped_pending(storage, s.name, mine)
        alert = scenario_reads.alert_for(storage, s.name, mine, wall0) if mine else None
        if alert is not None:
            out.final = f"{alert['details'].get('cause')} {_summary(alert)}"
    return list(outcomes.values())


def _after_onset(alert: dict[str, Any]) -> float | None:
    """Seconds from the slowdown's first slow interval (as the alert says) to its opening."""
    since = alert["details"].get("slowdown_since")
    if not since or alert["opened_at"] is None:
        return None
    opened: datetime = alert["opened_at"]
    return round(float((opened - datetime.fromisoformat(since)).total_seconds()), 1)


def _summary(alert: dict[str, Any]) -> str:
    """The alert's evidence on one line: ratio, plan diff, waits, spill, index advice."""
    d = alert["details"]
    parts = [f"{alert['ratio']}x"]
    if d.get("plan_diff"):
        parts.append("; ".join(d["plan_diff"][:2]))
    if d.get("waits", {}).get("summary"):
        parts.append(d["waits"]["summary"])
    if d.get("spill"):
        parts.append(d["spill"])
    if d.get("same_work"):
        parts.append(d["same_work"])
    if d.get("plan_reason_text"):
        parts.append(d["plan_reason_text"])
    advice = d.get("index_advice") or {}
    if advice.get("cost_with") is not None:
        parts.append(f"index {', '.join(advice['index'])}: cost {advice['cost_without']:g} -> "
                     f"{advice['cost_with']:g}")
    return " | ".join(parts)


def _write_config(workdir: Path, cluster: PgCluster, dbs: dict[str, str], timing: Timing) -> Path:
    targets = "\n".join(
        f"  - {{name: {name}, engine: postgresql, dsn: \"{cluster.dsn(db, user='planwatch')}\"}}"
        for name, db in dbs.items())
    path = workdir / "planwatch.yaml"
    path.write_text(textwrap.dedent(f"""\
        storage: {{url: "sqlite:///{workdir / 'planwatch.db'}"}}
        scheduling:
          collection: {{interval: {timing.collection_s}s}}
          analysis: {{interval: {timing.analysis_s}s}}
        analysis:
          regression: {{window: {timing.window_s}s, min_impact: {timing.min_impact}}}
        http: {{host: 127.0.0.1, port: {free_port()}}}
        logging: {{level: info, format: json}}
        targets:
        """) + targets + "\n")
    return path


@contextlib.contextmanager
def _planwatch(config: Path, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    exe = Path(sys.executable).with_name("planwatch")
    with open(workdir / "planwatch.log", "wb") as out:
        proc = subprocess.Popen([str(exe), "-c", str(config), "run"], stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ})
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def _workloads(envs: dict[str, Env]) -> Iterator[None]:
    for env in envs.values():
        env.shop.start()
    try:
        yield
    finally:
        for env in envs.values():
            env.shop.stop()


def _check_alive(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        raise RuntimeError(f"planwatch exited with {proc.returncode} (see planwatch.log)")


def _wait(predicate: Callable[[], bool], *, timeout: float, proc: subprocess.Popen[bytes],
          what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        _check_alive(proc)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout:.0f}s")
        time.sleep(1)


def _dsn(cluster: PgCluster, database: str, role: str) -> str:
    return cluster.dsn(database, user=role)
