"""The SQL Server collector against recorded result sets.

SQL Server cannot run on this machine, so — here and only here — the one class that talks to
the server (`sqlserver_source.PymssqlSource`) is replaced by `Replay`, which returns the rows
recorded in `tests/fixtures/sqlserver/*.json` (built by hand from the documented column names,
types and units; plans are the real showplan files in `tests/fixtures/plans/mssql/`). A statement
without a recorded response fails the test, so the recordings also pin down what is sent.
Everything else — grouping, units, deltas, plan parsing, error messages — is the real code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from planwatch.collectors import base, plans, showplan
from planwatch.collectors.sqlserver import SqlServerCollector
from planwatch.collectors.sqlserver_source import SourceError
from planwatch.config.settings import Secret, TargetSettings
from planwatch.errors import CollectorError
from planwatch.model.plans import PlanRequest
from planwatch.model.samples import CollectionResult, QuerySample
from shared_fixtures import FIXTURES, LOCAL_FIXTURES

RECORDINGS = LOCAL_FIXTURES / "sqlserver"
MSSQL_PLANS = FIXTURES / "mssql"
T0 = datetime(2026, 3, 1, 11, 0, 30, tzinfo=UTC)


def _typed(value: Any) -> Any:
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$hex" in value:
        return bytes.fromhex(value["$hex"].removeprefix("0x"))
    if "$dto" in value:
        return datetime.fromisoformat(value["$dto"])
    if "$dt" in value:
        return datetime.fromisoformat(value["$dt"])
    if "$file" in value:
        return (MSSQL_PLANS / value["$file"]).read_text(encoding="utf-8")
    return {k: _typed(v) for k, v in value.items()}


class Replay:
    """Replays one recording, poll by poll; records every call."""

    def __init__(self, name: str) -> None:
        self.polls = json.loads((RECORDINGS / name).read_text())["polls"]
        self.poll = -1
        self.calls: list[tuple[str, str | None, dict[str, Any], dict[str, str]]] = []
        self.closed = 0

    def next_poll(self) -> None:
        self.poll += 1

    def fetch(
        self, name: str, params: Mapping[str, Any] | None = None, *,
        database: str | None = None, parts: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        self.calls.append((name, database, dict(params or {}), dict(parts or {})))
        key = f"{database}/{name}" if database else name
        response = self.polls[self.poll]["responses"][key]  # KeyError: not recorded
        if isinstance(response, dict) and "$error" in response:
            raise SourceError(response["$error"]["number"], response["$error"]["message"])
        rows: list[dict[str, Any]] = _typed(response)
        for column in ("plan_ids", "query_ids"):  # what `WHERE x IN ({x_ids})` would keep
            if parts and column in parts:
                wanted = {int(v) for v in parts[column].split(",")}
                rows = [r for r in rows if r[column.removesuffix("s")] in wanted]
        return rows

    def close(self) -> None:
        self.closed += 1

    def sent(self, name: str) -> list[tuple[str, str | None, dict[str, Any], dict[str, str]]]:
        return [c for c in self.calls if c[0] == name]


def collector(recording: str, dsn: str = "mssql://planwatch_mon:s3cret@sql1:1433/shop",
              **kw: Any) -> tuple[SqlServerCollector, Replay]:
    replay = Replay(recording)
    target = TargetSettings(name="mssql", engine="sqlserver", dsn=Secret(dsn), **kw)
    return SqlServerCollector(target, replay), replay


def poll(c: SqlServerCollector, replay: Replay, at: datetime) -> CollectionResult:
    replay.next_poll()
    return c.collect(at)


def only(result: CollectionResult, query_id: str) -> QuerySample:
    found = [s for s in result.samples if s.ref.query_id == query_id]
    assert len(found) == 1, found
    return found[0]


def shape(name: str) -> str:
    statement = showplan.parse((MSSQL_PLANS / name).read_bytes())[0]
    assert statement.root is not None
    return plans.shape_hash(statement.root)


SEEK, SCAN = shape("hqp_clustered_index_seek.sqlplan"), shape("hqp_clustered_index_scan.sqlplan")


def test_factory_builds_the_collector_without_the_driver() -> None:
    target = TargetSettings(name="m", engine="sqlserver", dsn=Secret("mssql://u:p@h/db"))
    assert isinstance(base.create(target), SqlServerCollector)


def test_query_store_interval_totals_units_and_grouping() -> None:
    c, replay = collector("querystore_two_intervals.json")
    first = poll(c, replay, T0)
    q7 = only(first, "7")
    # three rows of (plan 70, interval 102): 10 + 5 in-memory/flushed regular, 1 aborted
    assert q7.calls == 16
    assert q7.total_ms == pytest.approx((10 * 100 + 5 * 160 + 1 * 3000) / 1000)
    assert (q7.rows, q7.blks_hit, q7.blks_read) == (15, 32, 16)
    assert q7.interval_start == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert q7.interval_end == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    assert q7.extras["cpu_ms"] == pytest.approx(1.28)
    assert (q7.extras["aborted"], q7.extras["max_memory_kb"]) == (1, 192)
    assert q7.extras["query_plan_hash"] == "0x134F3E5A51729C2E"
    assert q7.extras["query_hash"] == "0x179B1350F4CDE9FA"  # beside Query Store's query_id
    assert q7.ref.database == "shop" and q7.ref.fingerprint
    q8 = only(first, "8")
    assert (q8.calls, q8.total_ms, q8.blks_temp) == (4, 2.0, 8)
    assert len(first.samples) == 2  # the open interval 103 was ignored
    assert {t.ref.query_id for t in first.texts} == {"7", "8"}
    assert first.health.first_poll


def test_only_closed_intervals_are_read_each_once() -> None:
    c, replay = collector("querystore_two_intervals.json")
    poll(c, replay, T0)
    poll(c, replay, T0 + timedelta(hours=1))
    windows = [(p["since"], p["until"]) for _, _, p, _ in replay.sent("runtime_stats")]
    assert windows == [
        ("2026-03-01 10:00:05.000000+00:00", "2026-03-01 11:00:05.000000+00:00"),
        ("2026-03-01 11:00:05.000000+00:00", "2026-03-01 12:00:07.000000+00:00"),
    ]
    assert replay.sent("runtime_stats")[0][3] == {
        "extra_columns": ", rs.avg_tempdb_space_used, rs.avg_log_bytes_used"}


def test_plan_change_between_intervals_carries_the_new_plan_hash() -> None:
    c, replay = collector("querystore_two_intervals.json")
    first = poll(c, replay, T0)
    second = poll(c, replay, T0 + timedelta(hours=1))
    before, after = only(first, "7"), only(second, "7")
    assert (before.plan_hash, after.plan_hash) == (SEEK, SCAN)
    assert after.calls == 47 and after.total_ms == pytest.approx((7 * 100 + 40 * 2000) / 1000)
    assert after.extras["plans"] == {"70": 7, "71": 40}
    assert after.interval_start == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    captured = {p.plan_hash: p for p in (*first.plans, *second.plans)}
    assert captured[SCAN].engine_plan_hash == "0x6867F0BB85CF394F"
    assert captured[SCAN].ref == after.ref and "Clustered Index Scan" in captured[SCAN].plan_json
    assert [p.plan_hash for p in second.plans] == [SCAN]  # plan 70 is not parsed again
    assert second.texts == ()  # texts only for new query ids


def test_forced_plan_and_tuning_recommendation_in_extras() -> None:
    c, replay = collector("querystore_two_intervals.json")
    poll(c, replay, T0)
    after = only(poll(c, replay, T0 + timedelta(hours=1)), "7")
    assert after.extras["forced_plan"] == {
        "plan_id": 70, "is_forced": True, "forcing_type": "AUTO", "force_failure_count": 0,
        "last_force_failure_reason": "NONE"}
    rec = after.extras["tuning_recommendation"]
    assert (rec["regressed_plan_id"], rec["recommended_plan_id"]) == (71, 70)
    assert (rec["state"], rec["score"], rec["type"]) == ("Verifying", 56, "FORCE_LAST_GOOD_PLAN")
    assert rec["script"] == "exec sp_query_store_force_plan @query_id = 7, @plan_id = 70"
    assert rec["valid_since"] == "2026-03-01T11:40:00+00:00"
    json.dumps(after.extras)  # storable as JSON


def test_requested_plan_is_parsed_again() -> None:
    c, replay = collector("querystore_two_intervals.json")
    first = poll(c, replay, T0)
    ref = only(first, "8").ref
    c.request_plans([PlanRequest(ref.target, ref.database, ref.query_id, T0)])
    replay.polls[1]["responses"]["shop/plans"].append(
        replay.polls[0]["responses"]["shop/plans"][1])
    second = poll(c, replay, T0 + timedelta(hours=1))
    assert replay.sent("plans")[1][3]["plan_ids"] == "71, 80"
    assert {p.ref.query_id for p in second.plans} == {"7", "8"}


def test_plan_budget_defers_plans() -> None:
    c, replay = collector("querystore_two_intervals.json", plan_budget=1)
    first = poll(c, replay, T0)
    assert replay.sent("plans")[0][3]["plan_ids"] == "70"
    assert only(first, "8").plan_hash is None and len(first.plans) == 1


def test_dmv_fallback_deltas_and_creation_time_restart() -> None:
    c, replay = collector("dmv_fallback.json", dsn="mssql://planwatch_mon:pw@sql1/legacy")
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    first = poll(c, replay, at)
    assert first.samples == () and first.health.first_poll
    assert any("Query Store is OFF in database legacy" in w for w in first.health.warnings)
    second = poll(c, replay, at + timedelta(minutes=5))
    s = only(second, "0x179B1350F4CDE9FA")
    assert (s.calls, s.total_ms, s.rows) == (35, 145.0, 35)
    assert (s.blks_hit, s.blks_read) == (590, 100)  # (90 + 600) logical - 100 physical
    assert s.extras["cpu_ms"] == 74.0
    assert s.extras["plans"] == {"0x134F3E5A51729C2E": 30, "0x6867F0BB85CF394F": 5}
    assert s.plan_hash == SEEK and s.ref.fingerprint
    assert (s.interval_start, s.interval_end) == (at, at + timedelta(minutes=5))
    assert [t.text for t in second.texts] == ["SELECT * FROM [People] WHERE [id]=@1"]
    assert len(second.samples) == 1  # D re-baselined, database 'other' not watched
    assert second.health.warnings == ()  # said once
    third = poll(c, replay, at + timedelta(minutes=10))
    s = only(third, "0x179B1350F4CDE9FA")
    # the recompiled plan (new creation_time) counts in full: 4 + B's 20 more
    assert (s.calls, s.total_ms) == (24, 308.0)
    assert s.plan_hash == SCAN and [p.engine_plan_hash for p in third.plans] == [
        "0x6867F0BB85CF394F"]


def test_query_store_off_and_no_view_server_state_is_a_clear_fatal_error() -> None:
    c, replay = collector("dmv_permission_denied.json", dsn="mssql://planwatch_mon:pw@h/legacy")
    with pytest.raises(CollectorError) as caught:
        poll(c, replay, T0)
    message = str(caught.value)
    assert caught.value.fatal
    assert "Query Store is off in legacy" in message
    assert "GRANT VIEW SERVER STATE TO [planwatch_mon];" in message
    assert "VIEW SERVER PERFORMANCE STATE" in message and "SET QUERY_STORE = ON" in message


def test_query_store_without_view_database_state_is_a_clear_fatal_error() -> None:
    c, replay = collector("querystore_permission_denied.json")
    with pytest.raises(CollectorError) as caught:
        poll(c, replay, T0)
    assert caught.value.fatal
    assert "GRANT VIEW DATABASE STATE TO [planwatch_mon];" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_recordings_use_the_real_plan_files() -> None:
    for path in Path(RECORDINGS).glob("*.json"):
        for file in {m for m in path.read_text().split('"') if m.endswith(".sqlplan")}:
            assert (MSSQL_PLANS / file).is_file(), (path.name, file)
