"""Seeded storage for the web tests: targets, queries with a plan change, alerts, checks, workers.

Everything is written through the storage modules.
One query's text carries a <script> tag, and one plan's raw text an <img onerror>, so the
tests can prove that user/database strings are shown, never run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from planwatch.collectors import plans as plan_codec
from planwatch.config.settings import Secret, TargetSettings
from planwatch.model.alerts import Alert, AlertKind, AlertStatus
from planwatch.model.checks import CheckResult, CheckStatus
from planwatch.model.findings import Severity
from planwatch.model.jobs import JobRun, JobStatus, ResultStatus, Worker, WorkerStatus
from planwatch.model.plans import PlanNode
from planwatch.model.samples import CapturedPlan, QueryRef, QuerySample, StatementText
from planwatch.storage import (
    alerts,
    check_results,
    job_runs,
    plans,
    queries,
    samples,
    targets,
    workers,
)
from planwatch.storage.engine import Storage

SCRIPT_TEXT = "SELECT '<script>window.__pwned = 1; alert(1)</script>' FROM orders WHERE id = $1"
EVIL_PLAN_RAW = '{"Plan": {"Node Type": "Seq Scan <img src=x onerror=\\"window.__pwned=2\\">"}}'
DSN_PASSWORD = "s3cr3t-dsn-password"
STEP = timedelta(minutes=5)

INDEX_PLAN = PlanNode("Index Scan", relation="orders", index="orders_customer_id_idx")
SEQ_PLAN = PlanNode("Sort", children=(PlanNode("Seq Scan", relation="orders",
                                               flags=("parallel",)),))


@dataclass(frozen=True)
class Seeded:
    main: QueryRef  # 48 h of samples, plan change 12 h ago, an open critical alert
    script: QueryRef  # query text with <script>
    main_pk: int
    script_pk: int
    main_alert: int
    script_alert: int
    resolved_alert: int
    worker_id: str
    plan_old: str
    plan_new: str


def target_settings() -> list[TargetSettings]:
    return [
        TargetSettings("orders-db", "postgresql",
                       Secret(f"postgresql://app:{DSN_PASSWORD}@127.0.0.1:1/orders"),
                       environment="production", tags=("prod",)),
        TargetSettings("reporting", "sqlite", Secret("sqlite:////nonexistent/reporting.db"),
                       environment="production"),
    ]


def seed(st: Storage, now: datetime, *, live_worker: bool = True) -> Seeded:
    """`live_worker=False` when a real worker will register (SQLite serves one live worker)."""
    targets.sync(st, target_settings(), now)
    targets.set_status(st, "orders-db", up=True, error=None, at=now - timedelta(minutes=1))
    targets.set_status(st, "reporting", up=False, error="unable to open database file",
                       at=now - timedelta(minutes=1))
    main = QueryRef("orders-db", "orders", "4242", "fp-main")
    script = QueryRef("orders-db", "orders", "1337", "fp-script")
    other = QueryRef("orders-db", "orders", "77", "fp-other")
    queries.set_texts(st, [
        StatementText(main, "SELECT * FROM orders WHERE customer_id = $1 ORDER BY created_at"),
        StatementText(script, SCRIPT_TEXT),
        StatementText(other, "UPDATE orders SET status = $1 WHERE id = $2"),
    ], now)
    old_hash, new_hash = plan_codec.shape_hash(INDEX_PLAN), plan_codec.shape_hash(SEQ_PLAN)
    start = _floor(now) - timedelta(hours=48)
    change_at = _floor(now) - timedelta(hours=12)
    rows: list[QuerySample] = []
    t = start
    while t < _floor(now):
        slow = t >= change_at
        rows.append(QuerySample(main, t, t + STEP, calls=100, total_ms=900.0 if slow else 200.0,
                                rows=100, blks_hit=500, blks_read=80 if slow else 5,
                                plan_hash=new_hash if slow else old_hash))
        rows.append(QuerySample(script, t, t + STEP, calls=10, total_ms=15.0, rows=10,
                                plan_hash="scriptplan"))
        rows.append(QuerySample(other, t, t + STEP, calls=5, total_ms=2.0, rows=5))
        t += STEP
    samples.insert(st, rows)
    plans.upsert(st, [
        CapturedPlan(main, old_hash, plan_codec.to_json(INDEX_PLAN), '{"Plan": "index"}', start),
        CapturedPlan(main, new_hash, plan_codec.to_json(SEQ_PLAN), EVIL_PLAN_RAW, change_at),
        CapturedPlan(script, "scriptplan", plan_codec.to_json(PlanNode("Result")), "{}", start),
    ])
    ids = queries.upsert(st, [main, script], now - STEP)
    main_alert = _alert(st, main, now, "regression", AlertStatus.OPEN, Severity.CRITICAL, 4.5)
    script_alert = _alert(st, script, now, "regression", AlertStatus.OPEN, Severity.WARNING, 2.5,
                          text=SCRIPT_TEXT)
    resolved = _alert(st, other, now, "regression", AlertStatus.RESOLVED, Severity.WARNING, 2.1)
    worker_id = _workers(st, now, live_worker)
    _checks(st, now)
    return Seeded(main, script, ids[main], ids[script], main_alert, script_alert, resolved,
                  worker_id, old_hash, new_hash)


def _floor(t: datetime) -> datetime:
    return t.replace(minute=t.minute - t.minute % 5, second=0, microsecond=0)


def _alert(st: Storage, ref: QueryRef, now: datetime, kind: str, status: AlertStatus,
           severity: Severity, ratio: float, text: str | None = None) -> int:
    resolved = status is AlertStatus.RESOLVED
    a = Alert(
        id=None, dedup_key=f"{kind}:{ref.target}:{ref.database}:{ref.query_id}",
        kind=AlertKind(kind), status=status, severity=severity, target=ref.target,
        database=ref.database, subject=ref.query_id,
        title=f"query {ref.query_id} is {ratio:.1f}x slower",
        query_id=ref.query_id, query_text=text or queries.text_of(st, ref),
        plan_changed=ref.query_id == "4242", baseline_ms=2.0, current_ms=2.0 * ratio,
        ratio=ratio, opened_at=now - timedelta(hours=11), updated_at=now - timedelta(minutes=5),
        resolved_at=now - timedelta(minutes=5) if resolved else None,
        details={"cause": "plan_change"},
    )
    created = alerts.create(st, a, actor="analysis", message="detected")
    assert created.id is not None
    return created.id


def _workers(st: Storage, now: datetime, live_worker: bool) -> str:
    status = WorkerStatus.RUNNING if live_worker else WorkerStatus.STOPPED
    live = Worker("w-live-0001", "worker-1", "db-host-1", 4242, "0.1.0", "production",
                  status, now - timedelta(hours=3),
                  last_heartbeat=now if live_worker else now - timedelta(minutes=5))
    dead = Worker("w-dead-0002", "worker-2", "db-host-2", 99, "0.1.0", "production",
                  WorkerStatus.DEAD, now - timedelta(days=2),
                  last_heartbeat=now - timedelta(days=1))
    for w in (dead, live):
        workers.register(st, w, stale_after=timedelta(minutes=1))
    for i, status in enumerate([JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.RUNNING]):
        at = now - timedelta(minutes=10 - i)
        run = JobRun(None, "collection", "collection:orders-db", live.instance_id, status,
                     scheduled_at=at, started_at=at, target="orders-db",
                     message="<b>collected</b>" if i == 0 else "")
        run_id = job_runs.start(st, run)
        if status is not JobStatus.RUNNING:
            failed = status is JobStatus.FAILED
            job_runs.finish(
                st, run_id, status=status,
                result_status=ResultStatus.ERROR if failed else ResultStatus.HEALTHY,
                completed_at=at + timedelta(seconds=2), duration_ms=2000.0,
                message="collection failed" if failed else "ok",
                error="TargetUnreachable: connection refused" if failed else None,
            )
    return live.instance_id


def _checks(st: Storage, now: datetime) -> None:
    found = []
    for i in range(40):
        status = CheckStatus.CRITICAL if i in (35, 39) else CheckStatus.OK
        found.append(CheckResult(
            "orders_backlog", "orders-db", status,
            "backlog <script>window.__pwned=3</script> too high" if status != "ok" else "ok",
            executed_at=now - timedelta(hours=4 * (40 - i)), duration_ms=12.0,
            value=float(100 + i * 10)))
    found.append(CheckResult("reporting_fresh", "reporting", CheckStatus.ERROR,
                             "unable to open database file",
                             executed_at=now - timedelta(minutes=3)))
    check_results.insert(st, found)
