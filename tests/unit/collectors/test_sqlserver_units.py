"""Pure parts of the SQL Server collector: hashes, grouping, recommendations, error classes."""

from __future__ import annotations

import importlib.util
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


@pytest.mark.skipif(importlib.util.find_spec("pymssql") is not None,
                    reason="pymssql is installed")
def test_missing_driver_is_a_clear_fatal_error() -> None:
    target = TargetSettings(name="s", engine="sqlserver", dsn=Secret("mssql://mon:pw@sql1/db"))
    with pytest.raises(CollectorError) as caught:
        SqlServerCollector(target).collect(datetime(2026, 3, 1, tzinfo=UTC))
    assert caught.value.fatal and "pip install 'planwatch[sqlserver]'" in str(caught.value)
