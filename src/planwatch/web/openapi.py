"""The OpenAPI 3.0 document of /api/v1, written as data next to the shapes it describes.

The API is fuzzed against this document (schemathesis), so every status code a handler can
return is listed here and every response body matches its schema.
"""

from __future__ import annotations

import functools
from typing import Any

from planwatch import __version__

S = dict[str, Any]


def _t(kind: str, nullable: bool = False, **kw: Any) -> S:
    out: S = {"type": kind, **kw}
    if nullable:
        out["nullable"] = True
    return out


STR, NSTR = _t("string"), _t("string", True)
NUM, NNUM = _t("number"), _t("number", True)
INT, NINT = _t("integer"), _t("integer", True)
BOOL, NBOOL = _t("boolean"), _t("boolean", True)
OBJ = _t("object")
TS = _t("string", True, format="date-time")


def _obj(props: S, required: bool = True) -> S:
    return {"type": "object", "properties": props, "required": sorted(props) if required else []}


def _ref(name: str) -> S:
    return {"$ref": f"#/components/schemas/{name}"}


def _list(name: str) -> S:
    return {"type": "array", "items": _ref(name)}


ALERT = {
    "id": INT, "kind": _t("string", enum=["regression", "hotspot", "check", "health"]),
    "status": _t("string", enum=["pending", "open", "acknowledged", "resolved"]),
    "severity": _t("string", enum=["warning", "critical"]), "target": STR, "database": NSTR,
    "query_id": NSTR, "query_text": NSTR, "plan_changed": NBOOL, "baseline_ms": NNUM,
    "current_ms": NNUM, "ratio": NNUM, "opened_at": TS, "updated_at": TS, "resolved_at": TS,
    "title": STR, "details": OBJ, "query_pk": NINT, "silenced_until": TS, "silenced_by": NSTR,
}
EVENT = {"at": TS, "event": STR, "actor": STR, "message": STR, "data": OBJ}
QUERY = {
    "id": INT, "target": STR, "database": STR, "query_id": STR, "fingerprint": STR,
    "query_text": NSTR, "calls": INT, "total_ms": NUM, "mean_ms": NUM, "rows": INT,
    "plan_count": INT, "plan_changed": BOOL, "last_plan_hash": NSTR, "first_seen": TS,
    "last_seen": TS,
    "baseline": _obj({"state": _t("string", enum=["learning", "ready"]), "samples": INT,
                      "needed": INT}),
}
QUERY_INFO = {k: QUERY[k] for k in ("id", "target", "database", "query_id", "fingerprint",
                                    "query_text", "first_seen", "last_seen", "baseline")}
SERIES = {
    "t": {"type": "array", "items": NUM}, "mean_ms": {"type": "array", "items": NUM},
    "total_ms": {"type": "array", "items": NUM}, "calls": {"type": "array", "items": INT},
    "rows": {"type": "array", "items": INT}, "blks_hit": {"type": "array", "items": INT},
    "blks_read": {"type": "array", "items": INT}, "blks_temp": {"type": "array", "items": INT},
    "plan_hash": {"type": "array", "items": NSTR},
    "plan_changes": {"type": "array", "items": _obj({"t": NUM, "from": STR, "to": STR})},
}
PLAN_META = {"plan_hash": STR, "engine_plan_hash": NSTR, "first_seen": TS, "last_seen": TS}
PLAN = {**PLAN_META, "plan_json": STR, "raw": STR}
DIFF = {
    "from": _obj(PLAN_META), "to": _obj(PLAN_META), "readable": BOOL,
    "changes": {"type": "array", "items": STR},
    "rows": {"type": "array", "items": _obj({"left": NSTR, "right": NSTR, "tag": STR})},
}
TARGET = {
    "name": STR, "engine": STR, "environment": STR, "tags": {"type": "array", "items": STR},
    "enabled": BOOL, "up": NBOOL, "last_error": NSTR, "last_collected_at": TS, "queries": INT,
    "active_alerts": INT,
}
CHECK_SUMMARY = {
    "check": STR, "target": STR, "last_status": NSTR, "last_value": NNUM, "last_message": NSTR,
    "last_at": TS, "runs_7d": INT, "ok_7d": INT, "success_rate_7d": NNUM,
    "recent": {"type": "array", "items": _obj({"at": TS, "status": STR, "value": NNUM})},
}
CHECK_RESULT = {
    "id": INT, "check": STR, "target": STR, "labels": OBJ, "status": STR, "value": NNUM,
    "value_text": NSTR, "duration_ms": NNUM, "message": STR, "executed_at": TS,
}
WORKER = {
    "instance_id": STR, "name": STR, "host": STR, "pid": INT, "version": STR,
    "environment": STR, "status": STR, "started_at": TS, "stopped_at": TS,
    "last_heartbeat": TS, "config_digest": STR,
    "health": _t("string", enum=["healthy", "late", "stale", "stopped", "dead"]),
    "heartbeat_age_s": NNUM, "running_jobs": INT, "queued_jobs": INT,
}
JOB_RUN = {
    "id": INT, "job_type": STR, "job_name": STR, "worker_id": STR, "status": STR,
    "result_status": NSTR, "scheduled_at": TS, "started_at": TS, "completed_at": TS,
    "duration_ms": NNUM, "message": STR, "error": NSTR, "retry_count": INT,
    "next_retry_at": TS, "target": NSTR, "data": OBJ,
}
SUMMARY = {
    "generated_at": TS, "health": OBJ,
    "alerts": _obj({"active": INT, "by_severity": OBJ, "by_status": OBJ}),
    "targets": _obj({"counts": OBJ, "items": _list("Target")}),
    "top_regressions": _list("Alert"), "hotspots": _list("Query"),
    "hotspots_io": _list("Query"), "hotspots_calls": _list("Query"), "hotspot_window_s": INT,
    "workers": _list("Worker"),
}
NOTIFICATION = {
    "id": INT, "channel": STR, "kind": _t("string", enum=["alerts", "daily_summary"]),
    "status": _t("string", enum=["pending", "sent", "failed"]), "idempotency_key": STR,
    "group": STR, "title": STR, "items": INT, "attempts": INT, "last_error": NSTR,
    "created_at": TS, "expires_at": TS, "sent_at": TS,
    "alert_ids": {"type": "array", "items": INT},
}
CHECKS = {"window_days": INT, "checks": _list("CheckSummary"), "failures": _list("CheckResult")}

SCHEMAS: S = {
    "Error": _obj({"error": STR}),
    "Alert": _obj(ALERT),
    "AlertDetail": _obj({**ALERT, "events": {"type": "array", "items": _obj(EVENT)}}),
    "Query": _obj(QUERY),
    "QueryInfo": _obj(QUERY_INFO),
    "Series": _obj(SERIES),
    "Plan": _obj(PLAN),
    "PlanDiff": _obj(DIFF),
    "Target": _obj(TARGET),
    "CheckSummary": _obj(CHECK_SUMMARY),
    "CheckResult": _obj(CHECK_RESULT),
    "Checks": _obj(CHECKS),
    "Worker": _obj(WORKER),
    "JobRun": _obj(JOB_RUN),
    "Summary": _obj(SUMMARY),
    "Notification": _obj(NOTIFICATION),
    "ActionBody": {"type": "object", "properties": {
        "comment": {"type": "string", "maxLength": 2000, "pattern": "^[^\\u0000]*$"},
        "minutes": {"type": "integer", "minimum": 1, "maximum": 43200},
    }},
}


def _q(name: str, schema: S, description: str) -> S:
    """A query parameter; an empty value means "not given" (what HTML forms send)."""
    if "enum" in schema:
        schema = {**schema, "enum": ["", *schema["enum"]]}
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def _path(name: str, schema: S) -> S:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _err(description: str) -> S:
    return {"description": description,
            "content": {"application/json": {"schema": _ref("Error")}}}


def _ok(schema: S, description: str = "OK") -> S:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _get(summary: str, schema: S, parameters: list[S] | None = None,
         missing: bool = False) -> S:
    responses: S = {"200": _ok(schema), "401": _err("reading needs the token here"),
                    "503": _err("storage unavailable")}
    if parameters and any(p["in"] == "query" for p in parameters):
        responses["400"] = _err("invalid query parameter")
    if missing:
        responses["404"] = _err("no such object")
    return {"summary": summary, "parameters": parameters or [], "responses": responses}


def _post(summary: str, extra: S | None = None) -> S:
    return {
        "summary": summary,
        "parameters": [ALERT_ID],
        "requestBody": {"required": False,
                        "content": {"application/json": {"schema": _ref("ActionBody")}}},
        "responses": {
            "200": _ok(_ref("Alert"), "the alert after the action"),
            "400": _err("invalid body"), "401": _err("the token or a session is needed"),
            "403": _err("writes disabled (no token configured) or CSRF check failed"),
            "404": _err("no such alert"), "409": _err("not possible in the alert's status"),
            "503": _err("storage unavailable"), **(extra or {}),
        },
        "security": [{"bearer": []}, {"header": []}],
    }


def _resend() -> S:
    return {
        "summary": "Send a given-up notification again (same payload, same idempotency key)",
        "parameters": [_path("notification_id", {"type": "integer", "minimum": 0})],
        "responses": {
            "200": _ok(_ref("Notification"), "the notification, pending again"),
            "401": _err("the token or a session is needed"),
            "403": _err("writes disabled (no token configured) or CSRF check failed"),
            "404": _err("no such notification"), "409": _err("it was not given up"),
            "503": _err("storage unavailable"),
        },
        "security": [{"bearer": []}, {"header": []}],
    }


LIMIT = {"type": "integer", "minimum": 1, "maximum": 1000}
NAME = {"type": "string", "maxLength": 200, "pattern": "^[^\\u0000]*$"}
RANGE = _q("range", {"type": "string", "enum": ["1h", "6h", "24h", "7d", "30d"]},
           "time window ending now (default 24h)")
ALERT_ID = _path("alert_id", {"type": "integer", "minimum": 0})
QUERY_ID = _path("query_id", {"type": "integer", "minimum": 0})


def _paths() -> S:
    alerts_params = [
        _q("status", {"type": "string", "enum": ["open", "all", "pending", "acknowledged",
                                                 "resolved"]}, "open = any active status"),
        _q("kind", {"type": "string", "enum": ["regression", "hotspot", "check", "health"]}, ""),
        _q("severity", {"type": "string", "enum": ["warning", "critical"]}, ""),
        _q("target", NAME, "only this target"), _q("limit", LIMIT, "default 100"),
    ]
    return {
        "/summary": {"get": _get("Overview: health, alert counts, targets, regressions, "
                                 "hotspots, workers", _ref("Summary"))},
        "/alerts": {"get": _get("Alerts, most recently updated first", _list("Alert"),
                                alerts_params)},
        "/alerts/{alert_id}": {"get": _get("One alert with its audit trail",
                                           _ref("AlertDetail"), [ALERT_ID], True)},
        "/alerts/{alert_id}/ack": {"post": _post("Acknowledge an open alert")},
        "/alerts/{alert_id}/resolve": {"post": _post("Resolve an alert")},
        "/alerts/{alert_id}/silence": {"post": _post("Silence notifications of an alert for "
                                                     "`minutes` (default 60)")},
        "/targets": {"get": _get("Monitored targets and their status", _list("Target"))},
        "/targets/{name}": {"get": _get("One target", _ref("Target"),
                                        [_path("name", {"type": "string"})], True)},
        "/queries": {"get": _get(
            "Top queries by total time in the window, or (order=regression) the active "
            "regressions, largest first", {"type": "array", "items": {"oneOf": [
                _ref("Query"), _ref("Alert")]}},
            [RANGE, _q("target", NAME, "only this target"),
             _q("order", {"type": "string", "enum": ["total", "regression"]}, "default total"),
             _q("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "default 50")])},
        "/queries/{query_id}": {"get": _get("One query", _ref("QueryInfo"), [QUERY_ID], True)},
        "/queries/{query_id}/series": {"get": _get(
            "Per-interval latency, calls, rows, I/O and plan hash", _ref("Series"),
            [QUERY_ID, RANGE], True)},
        "/queries/{query_id}/plans": {"get": _get("The query's plans, oldest first",
                                                  _list("Plan"), [QUERY_ID], True)},
        "/queries/{query_id}/plans/diff": {"get": _get(
            "Two plans side by side: `to` defaults to the newest plan, `from` to the one "
            "before `to`", _ref("PlanDiff"),
            [QUERY_ID, _q("from", NAME, "older plan hash"), _q("to", NAME, "newer plan hash")],
            True)},
        "/checks": {"get": _get("Per check and target: last status, success rate, recent "
                                "values; recent failures", _ref("Checks"))},
        "/checks/results": {"get": _get("Check results, newest first", _list("CheckResult"), [
            _q("check", NAME, ""), _q("target", NAME, ""),
            _q("status", {"type": "string", "enum": ["ok", "warning", "critical", "error"]}, ""),
            _q("limit", LIMIT, "default 100")])},
        "/notifications": {"get": _get("Notifications (messages to channels), newest first",
                                       _list("Notification"), [
            _q("status", {"type": "string", "enum": ["pending", "sent", "failed"]},
               "failed = given up"),
            _q("channel", NAME, "only this channel"), _q("limit", LIMIT, "default 100")])},
        "/notifications/{notification_id}/resend": {"post": _resend()},
        "/workers": {"get": _get("Workers with heartbeat health and running jobs",
                                 _list("Worker"))},
        "/job-runs": {"get": _get("Job runs, newest first", _list("JobRun"), [
            _q("status", {"type": "string", "enum": ["Queued", "Running", "Completed",
                                                     "Failed", "Cancelled"]}, ""),
            _q("job_type", NAME, ""), _q("target", NAME, ""), _q("limit", LIMIT,
                                                                 "default 100")])},
    }


@functools.cache
def document() -> S:
    return {
        "openapi": "3.0.3",
        "info": {"title": "planwatch API", "version": __version__,
                 "description": "Read endpoints are open on loopback (or everywhere with "
                                "http.public_read); writes need http.token."},
        "servers": [{"url": "/api/v1"}],
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "header": {"type": "apiKey", "in": "header", "name": "X-Planwatch-Token"},
            },
        },
    }
