-- SQL Server 2016+ statements of the Query Store / plan cache collector.
-- `%(name)s` are bound by pymssql; `{name}` placeholders are filled by the collector with
-- integer lists and column lists it built itself. Every statement is sent with the
-- /* planwatch */ prefix. Catalog views are per database: the source runs `use_database` first.

-- name: server_facts
SELECT CAST(SERVERPROPERTY('ProductMajorVersion') AS int) AS major_version,
       CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS product_version,
       SUSER_SNAME() AS login,
       DB_NAME() AS current_database;

-- name: session_options
SET LOCK_TIMEOUT 5000; SET DEADLOCK_PRIORITY LOW; SET TRANSACTION ISOLATION LEVEL READ COMMITTED;

-- name: use_database
USE {database};

-- name: clock
SELECT SYSDATETIMEOFFSET() AS server_now;

-- name: databases
SELECT name
  FROM sys.databases
 WHERE database_id > 4 AND state_desc = 'ONLINE' AND HAS_DBACCESS(name) = 1
 ORDER BY name;

-- name: query_store_options
SELECT actual_state_desc, desired_state_desc, readonly_reason, interval_length_minutes,
       current_storage_size_mb, max_storage_size_mb
  FROM sys.database_query_store_options;

-- name: runtime_stats
SELECT rs.plan_id, p.query_id, rs.runtime_stats_interval_id, rs.execution_type,
       i.start_time, i.end_time, rs.count_executions,
       rs.avg_duration, rs.avg_cpu_time, rs.avg_logical_io_reads, rs.avg_logical_io_writes,
       rs.avg_physical_io_reads, rs.avg_rowcount, rs.avg_clr_time, rs.avg_dop,
       rs.max_query_max_used_memory{extra_columns}
  FROM sys.query_store_runtime_stats AS rs
  JOIN sys.query_store_runtime_stats_interval AS i
    ON i.runtime_stats_interval_id = rs.runtime_stats_interval_id
  JOIN sys.query_store_plan AS p ON p.plan_id = rs.plan_id
 WHERE i.end_time > CAST(%(since)s AS datetimeoffset)
   AND i.end_time <= CAST(%(until)s AS datetimeoffset);

-- name: queries
SELECT q.query_id, q.query_hash, qt.query_sql_text
  FROM sys.query_store_query AS q
  JOIN sys.query_store_query_text AS qt ON qt.query_text_id = q.query_text_id
 WHERE q.query_id IN ({query_ids});

-- name: plans
SELECT p.plan_id, p.query_id, p.query_plan_hash, p.query_plan
  FROM sys.query_store_plan AS p
 WHERE p.plan_id IN ({plan_ids});

-- name: forced_plans
SELECT p.plan_id, p.query_id, p.is_forced_plan, p.force_failure_count,
       p.last_force_failure_reason_desc{extra_columns}
  FROM sys.query_store_plan AS p
 WHERE p.is_forced_plan = 1 OR p.force_failure_count > 0;

-- name: tuning_recommendations
SELECT name, type, reason, valid_since, last_refresh, state, score, details
  FROM sys.dm_db_tuning_recommendations
 WHERE type = 'FORCE_LAST_GOOD_PLAN';

-- name: query_stats
SELECT qs.sql_handle, qs.statement_start_offset, qs.statement_end_offset, qs.plan_handle,
       qs.creation_time, qs.execution_count, qs.total_worker_time, qs.total_elapsed_time,
       qs.total_logical_reads, qs.total_physical_reads, qs.total_logical_writes, qs.total_rows,
       qs.query_hash, qs.query_plan_hash, DB_NAME(CONVERT(int, pa.value)) AS database_name
  FROM sys.dm_exec_query_stats AS qs
 CROSS APPLY sys.dm_exec_plan_attributes(qs.plan_handle) AS pa
 WHERE pa.attribute = 'dbid';

-- name: statement_text
SELECT SUBSTRING(st.text, %(start)s / 2 + 1,
                 (CASE %(end)s WHEN -1 THEN DATALENGTH(st.text) ELSE %(end)s END
                  - %(start)s) / 2 + 1) AS statement_text
  FROM sys.dm_exec_sql_text(%(sql_handle)s) AS st;

-- name: statement_plan
SELECT query_plan
  FROM sys.dm_exec_text_query_plan(%(plan_handle)s, %(start)s, %(end)s);
