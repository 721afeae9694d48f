"""Plain-text rendering for the terminal (CLI tables, the demo's alert report)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from planwatch import views
from planwatch.model.alerts import Alert
from planwatch.model.jobs import Worker
from planwatch.model.plans import PlanNode
from planwatch.redaction import redact
from planwatch.storage.queries import QuerySummary


def safe_url(url: str) -> str:
    return redact(url)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _when(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t else ""


def _short(text: str | None, width: int = 60) -> str:
    one_line = " ".join((text or "").split())
    return one_line if len(one_line) <= width else one_line[: width - 1] + "…"


def alerts_table(alerts: Sequence[Alert]) -> str:
    if not alerts:
        return "no alerts"
    rows = [
        (a.id, a.status.value, a.severity.value, a.kind.value, a.target, a.query_id or a.subject,
         f"{a.ratio:.1f}x" if a.ratio else "", "yes" if a.plan_changed else "",
         _when(a.opened_at), _short(a.title, 50))
        for a in alerts
    ]
    return _table(["ID", "STATUS", "SEVERITY", "KIND", "TARGET", "SUBJECT", "RATIO", "PLAN",
                   "OPENED", "TITLE"], rows)


def queries_table(queries: Sequence[QuerySummary], needed: int) -> str:
    """`needed`: intervals a baseline needs before detection starts (min_baseline_samples)."""
    if not queries:
        return "no queries recorded in that period"
    rows = [
        (q.ref.target, q.ref.database, q.ref.query_id, q.calls, f"{q.total_ms:.1f}",
         f"{q.mean_ms:.3f}", q.plan_count, baseline_cell(q.baseline_samples, needed),
         _short(q.text, 50))
        for q in queries
    ]
    return _table(["TARGET", "DATABASE", "QUERY ID", "CALLS", "TOTAL MS", "MEAN MS", "PLANS",
                   "BASELINE", "TEXT"], rows)


def baseline_cell(samples: int, needed: int) -> str:
    return "ready" if samples >= needed else f"learning {samples}/{needed}"


def workers_table(workers: Sequence[Worker]) -> str:
    if not workers:
        return "no workers registered"
    rows = [(w.name, w.host, w.pid, w.status.value, _when(w.started_at), _when(w.last_heartbeat),
             w.version) for w in workers]
    return _table(["NAME", "HOST", "PID", "STATUS", "STARTED", "HEARTBEAT", "VERSION"], rows)


def plan_tree(node: PlanNode, indent: int = 0) -> list[str]:
    """An indented outline of a plan: operator, object and index per line."""
    label = node.op
    if node.join_type:
        label += f" ({node.join_type})"
    if node.relation:
        label += f" on {node.relation}"
    if node.index:
        label += f" using {node.index}"
    shown = [f for f in node.flags if not f.startswith(("parent:", "scan:"))]
    if shown:
        label += f" [{', '.join(shown)}]"
    lines = ["  " * indent + ("-> " if indent else "") + label]
    for child in node.children:
        lines += plan_tree(child, indent + 1)
    return lines


def alert_report(alert: Alert, old: PlanNode | None, new: PlanNode | None) -> str:
    """What a DBA wants to read first: what, where, how bad, and why (old vs new plan)."""
    d = alert.details
    lines = [
        f"[{alert.severity.value.upper()}] {alert.kind.value} alert #{alert.id} on "
        f"{alert.target}/{alert.database}: {alert.title}",
        f"  query {alert.query_id}: {_short(alert.query_text, 100)}",
        f"  latency {alert.baseline_ms:.2f} ms -> {alert.current_ms:.2f} ms "
        f"({alert.ratio:.1f}x), p={d.get('p_value', float('nan')):.2g}, "
        f"extra time {d.get('impact_ms', 0) / 1000:.1f} s over {d.get('recent_calls', 0)} calls",
        f"  plan verdict: {d.get('cause', 'unknown')}",
    ]
    for change in d.get("plan_diff", []):
        lines.append(f"    * {change}")
    lines += ["  " + line for line in evidence_lines(d)]
    pairs = (("old plan", "old_plan_hash", old), ("new plan", "new_plan_hash", new))
    for title, key, plan in pairs:
        if plan is not None:
            lines.append(f"  {title} ({d.get(key)}):")
            lines += ["    " + line for line in plan_tree(plan)]
    return "\n".join(lines)


def evidence_lines(d: Mapping[str, Any]) -> list[str]:
    """What the verdict rests on: why it is unknown, the context the plan was explained in,
    what else changed (rows, blocks, spills, waits) and index advice."""
    out = []
    if d.get("plan_reason_text"):
        out.append(f"why unknown: {d['plan_reason_text']}")
    ev = d.get("plan_evidence") or {}
    if ev.get("role"):
        how = "as" if ev.get("as_role") else "with the settings of"
        settings = ", ".join(f"{k}={v}" for k, v in (ev.get("settings") or {}).items())
        out.append(f"plan explained {how} role {ev['role']}" + (f" ({settings})" if settings
                                                                else ""))
    for key, label in (("rows_per_call", "rows"), ("blks_per_call", "blocks"),
                       ("temp_blks_per_call", "temp blocks")):
        moved = d.get(key)
        if isinstance(moved, Mapping) and moved.get("before") != moved.get("after"):
            out.append(f"{label} per call {moved.get('before'):g} -> {moved.get('after'):g}")
    for key in ("spill", "same_work"):
        if d.get(key):
            out.append(str(d[key]))
    waits = d.get("waits") or {}
    if waits.get("summary"):
        out.append(str(waits["summary"]))
    advice = d.get("index_advice") or {}
    if advice.get("available") and advice.get("cost_with") is not None:
        out.append(f"an index on {', '.join(advice['index'])} would take the estimated cost "
                   f"from {advice['cost_without']:g} to {advice['cost_with']:g}")
    return out


def checks_table(rows: Sequence[views.CheckSummary]) -> str:
    """The monitoring summary (`planwatch checks`)."""
    if not rows:
        return "no checks configured or recorded"
    def pct(rate: object) -> str:
        return f"{rate * 100:.1f}%" if isinstance(rate, float) else ""
    table = [
        (r["check"], r["target"], r["last_status"] or "never run",
         str(r["last_at"] or "")[:19].replace("T", " "),
         "" if r["last_value"] is None else r["last_value"], pct(r["success_rate_7d"]),
         r["runs_7d"], _short(str(r["last_message"] or ""), 50))
        for r in rows
    ]
    return _table(["CHECK", "TARGET", "STATUS", "LAST RUN", "VALUE", "OK 7D", "RUNS 7D",
                   "MESSAGE"], table)


def notifications_table(rows: Sequence[views.Notification]) -> str:
    """`planwatch notifications`."""
    if not rows:
        return "no notifications"
    return _table(
        ["ID", "STATUS", "CHANNEL", "KIND", "ITEMS", "ATTEMPTS", "CREATED", "LAST ERROR / TITLE"],
        [(r["id"], r["status"], r["channel"], r["kind"], r["items"], r["attempts"],
          str(r["created_at"] or "")[:16].replace("T", " "),
          _short(str(r["last_error"] or r["title"]), 60)) for r in rows],
    )
