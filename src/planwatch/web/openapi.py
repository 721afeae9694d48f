"""The OpenAPI 3.0 document of /api/v1: paths written as data, schemas generated from the
shapes the handlers return (web/shapes.py, views.py), so the two cannot drift apart.

The API is fuzzed against this document (schemathesis), so every status code a handler can
return is listed here and every response body matches its schema.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from planwatch import __version__, views
from planwatch.web import params, shapes

S = dict[str, Any]
REF = "#/components/schemas/"


class OpenApi30(GenerateJsonSchema):
    """pydantic writes JSON Schema 2020-12 (`anyOf` with null); OpenAPI 3.0 says `nullable`.
    Property titles are left out: the names say it."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        inner = self.generate_inner(schema["schema"])
        return {"allOf": [inner], "nullable": True} if "$ref" in inner else {
            **inner, "nullable": True}

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def schemas() -> S:
    """`components.schemas`: every response shape, the nested ones and the action body."""
    inputs: list[tuple[str, Any, TypeAdapter[Any]]] = [
        (t.__name__, "serialization", TypeAdapter(t)) for t in shapes.RESPONSES]
    inputs.append(("ActionBody", "validation", TypeAdapter(shapes.ActionBody)))
    _, top = TypeAdapter.json_schemas(inputs, ref_template=REF + "{model}",
                                      schema_generator=OpenApi30)
    found: S = top["$defs"]
    return found


def _ref(shape: type[Any]) -> S:
    return {"$ref": REF + shape.__name__}


def _list(shape: type[Any]) -> S:
    return {"type": "array", "items": _ref(shape)}


def _q(name: str, schema: S, description: str) -> S:
    """A query parameter; an empty value means "not given" (what HTML forms send)."""
    if "enum" in schema:
        schema = {**schema, "enum": ["", *schema["enum"]]}
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def _choice(name: str, values: tuple[str, ...], description: str = "") -> S:
    return _q(name, {"type": "string", "enum": list(values)}, description)


def _text(name: str, description: str = "") -> S:
    schema = {"type": "string", "maxLength": params.MAX_TEXT, "pattern": params.NO_NUL}
    return _q(name, schema, description)


def _limit(spec: params.Limit = params.LIMIT) -> S:
    return _q("limit", {"type": "integer", "minimum": 1, "maximum": spec.most},
              f"default {spec.default}")


def _path(name: str, schema: S) -> S:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _err(description: str) -> S:
    return {"description": description,
            "content": {"application/json": {"schema": _ref(shapes.Error)}}}


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


def _post(summary: str) -> S:
    return {
        "summary": summary,
        "parameters": [ALERT_ID],
        "requestBody": {"required": False,
                        "content": {"application/json": {"schema": _ref(shapes.ActionBody)}}},
        "responses": {
            "200": _ok(_ref(shapes.Alert), "the alert after the action"),
            "400": _err("invalid body"), "401": _err("the token or a session is needed"),
            "403": _err("writes disabled (no token configured) or CSRF check failed"),
            "404": _err("no such alert"), "409": _err("not possible in the alert's status"),
            "503": _err("storage unavailable"),
        },
        "security": [{"bearer": []}, {"header": []}],
    }


def _resend() -> S:
    return {
        "summary": "Send a given-up notification again (same payload, same idempotency key)",
        "parameters": [_path("notification_id", {"type": "integer", "minimum": 0})],
        "responses": {
            "200": _ok(_ref(views.Notification), "the notification, pending again"),
            "401": _err("the token or a session is needed"),
            "403": _err("writes disabled (no token configured) or CSRF check failed"),
            "404": _err("no such notification"), "409": _err("it was not given up"),
            "503": _err("storage unavailable"),
        },
        "security": [{"bearer": []}, {"header": []}],
    }


RANGE = _choice("range", tuple(params.RANGES), "time window ending now (default 24h)")
ALERT_ID = _path("alert_id", {"type": "integer", "minimum": 0})
QUERY_ID = _path("query_id", {"type": "integer", "minimum": 0})


def _paths() -> S:
    alerts_params = [
        _choice("status", params.ALERT_STATUSES, "open = any active status"),
        _choice("kind", params.KINDS), _choice("severity", params.SEVERITIES),
        _text("target", "only this target"), _limit(),
    ]
    return {
        "/summary": {"get": _get("Overview: health, alert counts, targets, regressions, "
                                 "hotspots, workers", _ref(shapes.Summary))},
        "/alerts": {"get": _get("Alerts, most recently updated first", _list(shapes.Alert),
                                alerts_params)},
        "/alerts/{alert_id}": {"get": _get("One alert with its audit trail",
                                           _ref(shapes.AlertDetail), [ALERT_ID], True)},
        "/alerts/{alert_id}/ack": {"post": _post("Acknowledge an open alert")},
        "/alerts/{alert_id}/resolve": {"post": _post("Resolve an alert")},
        "/alerts/{alert_id}/silence": {"post": _post("Silence notifications of an alert for "
                                                     "`minutes` (default 60)")},
        "/targets": {"get": _get("Monitored targets and their status", _list(shapes.Target))},
        "/targets/{name}": {"get": _get("One target", _ref(shapes.Target),
                                        [_path("name", {"type": "string"})], True)},
        "/queries": {"get": _get(
            "Top queries by total time in the window, or (order=regression) the active "
            "regressions, largest first", {"type": "array", "items": {"oneOf": [
                _ref(shapes.Query), _ref(shapes.Alert)]}},
            [RANGE, _text("target", "only this target"),
             _choice("order", params.QUERY_ORDERS, "default total"),
             _limit(params.QUERY_LIMIT)])},
        "/queries/{query_id}": {"get": _get("One query", _ref(shapes.QueryInfo), [QUERY_ID],
                                            True)},
        "/queries/{query_id}/series": {"get": _get(
            "Per-interval latency, calls, rows, I/O and plan hash", _ref(shapes.Series),
            [QUERY_ID, RANGE], True)},
        "/queries/{query_id}/plans": {"get": _get("The query's plans, oldest first",
                                                  _list(shapes.Plan), [QUERY_ID], True)},
        "/queries/{query_id}/plans/diff": {"get": _get(
            "Two plans side by side: `to` defaults to the newest plan, `from` to the one "
            "before `to`", _ref(shapes.PlanDiff),
            [QUERY_ID, _text("from", "older plan hash"), _text("to", "newer plan hash")],
            True)},
        "/checks": {"get": _get("Per check and target: last status, success rate, recent "
                                "values; recent failures", _ref(shapes.Checks))},
        "/checks/results": {"get": _get(
            "Check results, newest first", _list(shapes.CheckResult),
            [_text("check"), _text("target"), _choice("status", params.CHECK_STATUSES),
             _limit()])},
        "/notifications": {"get": _get(
            "Notifications (messages to channels), newest first", _list(views.Notification),
            [_choice("status", params.NOTIFICATION_STATUSES, "failed = given up"),
             _text("channel", "only this channel"), _limit()])},
        "/notifications/{notification_id}/resend": {"post": _resend()},
        "/workers": {"get": _get("Workers with heartbeat health and running jobs",
                                 _list(shapes.Worker))},
        "/job-runs": {"get": _get("Job runs, newest first", _list(views.JobRun), [
            _choice("status", params.JOB_STATUSES), _text("job_type"), _text("target"),
            _limit()])},
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
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "header": {"type": "apiKey", "in": "header", "name": "X-Planwatch-Token"},
            },
        },
    }
