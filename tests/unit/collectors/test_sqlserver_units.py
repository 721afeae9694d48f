"""Pure parts of the SQL Server collector: hashes, grouping, recommendations, error classes."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest

from planwatch.collectors import sqlserver_querystore as qs
from planwatch.collectors import sqlserver_source as source
from planwatch.collectors.sqlserver import SqlServerCollector
from planwatch.config.settings import Secret, TargetSettings
from planwatch.errors import CollectorError, TargetUnreachable

PARAMS = {"server": "sql1", "port": 1433, "user": "mon", "password": "pw"}


def test_hex_hash_matches_showplan_spelling() -> None:
    assert qs.hex_hash(bytes.fromhex("9a29903735db4736")) == "0x9A29903735DB4736"
    assert qs.hex_hash("0x9a29903735db4736") == "0x9A29903735DB4736"
    assert qs.hex_hash(None) is None


def test_group_window_and_offsets() -> None:
    plus_one = timezone(timedelta(hours=1))
    row = {"plan_id": 1, "query_id": 2, "runtime_stats_interval_id": 3, "execution_type": 4,
           "start_time": datetime(2026, 3, 1, 11, tzinfo=plus_one),
           "end_time": datetime(2026, 3, 1, 12, tzinfo=plus_one), "count_executions": 2,
           "avg_duration": 1500.0}
    until = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    [item] = qs.group([row], until=until)
    assert (item.calls, item.totals["duration_us"], item.exceptions) == (2, 3000.0, 2)
    assert item.end == until
    assert qs.group([row], since=until) == []
    assert qs.group([row], until=until - timedelta(seconds=1)) == []


def test_recommendation_without_plan_details_is_ignored() -> None:
    assert qs.recommendation({"details": "{}", "state": None}) is None
    assert qs.recommendation({"details": "not json"}) is None


def test_classify_source_errors() -> None:
    login = source.classify("s", PARAMS, source.SourceError(18456, "Login failed for user 'mon'",
                                                            connecting=True))
    assert login.fatal and "login failed for user mon at sql1:1433" in str(login)
    down = source.classify("s", PARAMS, source.SourceError(20009, "Unable to connect",
                                                           connecting=True))
    assert isinstance(down, TargetUnreachable)
    timeout = source.classify("s", PARAMS, source.SourceError(None, "timeout"))
    assert not timeout.fatal and not isinstance(timeout, TargetUnreachable)


def test_quote_name_escapes_brackets() -> None:
    assert source.quote_name("we]ird") == "[we]]ird]"


def test_missing_driver_is_a_clear_fatal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymssql", None)  # as if the extra were not installed
    target = TargetSettings(name="s", engine="sqlserver", dsn=Secret("mssql://mon:pw@sql1/db"))
    with pytest.raises(CollectorError) as caught:
        SqlServerCollector(target).collect(datetime(2026, 3, 1, tzinfo=UTC))
    assert caught.value.fatal and "pip install 'planwatch[sqlserver]'" in str(caught.value)


def test_driver_errors_of_both_shapes_keep_the_number_and_lose_the_password() -> None:
    # pymssql: connect errors carry one (number, bytes) tuple, statement errors two arguments.
    connect = Exception((18456, b"Login failed for user 'mon' (pw s3cret).DB-Lib error "
                                b"message 20018, severity 14:\nGeneral SQL Server error"))
    error = source.driver_error(connect, "s3cret", connecting=True)
    assert (error.number, error.connecting) == (18456, True)
    assert "s3cret" not in str(error) and "\n" not in str(error)
    assert "Login failed for user 'mon'" in str(error)
    statement = Exception(208, b"Invalid object name 'sys.dm_db_tuning_recommendations'.")
    assert source.driver_error(statement, None).number == source.INVALID_OBJECT
    assert source.driver_error(Exception("gone"), None).number is None
