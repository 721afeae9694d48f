"""pg_stat_statements column lists of PG13, 14, 15 and 17 map to the same canonical counters."""

from __future__ import annotations

import pytest

from planwatch.collectors import pg_columns

_TIMES = ["total_{0}_time", "min_{0}_time", "max_{0}_time", "mean_{0}_time", "stddev_{0}_time"]
_BLOCKS = [f"{kind}_blks_{op}" for kind in ("shared", "local")
           for op in ("hit", "read", "dirtied", "written")] + ["temp_blks_read",
                                                               "temp_blks_written"]
_JIT15 = ["jit_functions", "jit_generation_time", "jit_inlining_count", "jit_inlining_time",
          "jit_optimization_count", "jit_optimization_time", "jit_emission_count",
          "jit_emission_time"]
_PLAN = ["plans", *(t.format("plan") for t in _TIMES)]
_EXEC = ["calls", *(t.format("exec") for t in _TIMES), "rows"]
PG13 = ["userid", "dbid", "queryid", "query", *_PLAN, *_EXEC, *_BLOCKS,
        "blk_read_time", "blk_write_time", "wal_records", "wal_fpi", "wal_bytes"]
PG14 = ["userid", "dbid", "toplevel", "queryid", "query", *_PLAN, *_EXEC, *_BLOCKS,
        "blk_read_time", "blk_write_time", "wal_records", "wal_fpi", "wal_bytes"]
PG15 = ["userid", "dbid", "toplevel", "queryid", "query", *_PLAN, *_EXEC, *_BLOCKS,
        "blk_read_time", "blk_write_time", "temp_blk_read_time", "temp_blk_write_time",
        "wal_records", "wal_fpi", "wal_bytes", *_JIT15]
PG17 = ["userid", "dbid", "toplevel", "queryid", "query", *_PLAN, *_EXEC, *_BLOCKS,
        "shared_blk_read_time", "shared_blk_write_time", "local_blk_read_time",
        "local_blk_write_time", "temp_blk_read_time", "temp_blk_write_time",
        "wal_records", "wal_fpi", "wal_bytes", *_JIT15, "jit_deform_count", "jit_deform_time",
        "stats_since", "minmax_stats_since"]
PG12 = ["userid", "dbid", "queryid", "query", "calls", "total_time", "min_time", "max_time",
        "mean_time", "stddev_time", "rows", *_BLOCKS, "blk_read_time", "blk_write_time"]
CORE = {"calls", "total_exec_time", "rows", "shared_blks_hit", "shared_blks_read",
        "temp_blks_read", "temp_blks_written", "shared_blk_read_time", "shared_blk_write_time"}


def test_pg15_list_has_the_43_columns_verified_on_a_live_server() -> None:
    assert len(PG15) == 43


@pytest.mark.parametrize("columns", [PG12, PG13, PG14, PG15, PG17], ids=["12", "13", "14", "15",
                                                                          "17"])
def test_every_version_yields_the_core_counters(columns: list[str]) -> None:
    mapped = pg_columns.map_columns(columns)
    assert mapped.canonical() >= CORE
    assert not any(n.startswith(("min_", "max_", "mean_", "stddev_")) for n in mapped.canonical())
    assert not {"query", "queryid", "userid", "dbid", "toplevel", "stats_since"} & set(
        mapped.counters)


def test_renames_map_old_spellings() -> None:
    assert pg_columns.map_columns(PG12).counters["total_time"] == "total_exec_time"
    pg13 = pg_columns.map_columns(PG13)
    assert pg13.counters["blk_read_time"] == "shared_blk_read_time"
    assert pg13.counters["blk_write_time"] == "shared_blk_write_time"
    assert pg_columns.map_columns(PG17).counters["shared_blk_read_time"] == "shared_blk_read_time"


def test_toplevel_and_stats_since_detection() -> None:
    assert not pg_columns.map_columns(PG13).has_toplevel
    assert pg_columns.map_columns(PG14).has_toplevel
    assert not pg_columns.map_columns(PG15).has_stats_since
    pg17 = pg_columns.map_columns(PG17)
    assert pg17.has_toplevel and pg17.has_stats_since
    assert "local_blk_read_time" in pg17.canonical() and "jit_deform_time" in pg17.canonical()


def test_unknown_non_numeric_columns_are_skipped() -> None:
    typed = [("calls", "bigint"), ("wal_bytes", "numeric"), ("future_label", "text")]
    skipped = pg_columns.non_numeric(typed)
    assert skipped == {"future_label"}
    mapped = pg_columns.map_columns([n for n, _ in typed], skipped)
    assert set(mapped.counters) == {"calls", "wal_bytes"}
