-- PostgreSQL statements of the pg_stat_statements collector.
-- `{name}` placeholders are filled with psycopg.sql (identifiers, column lists);
-- `%(name)s` are bound parameters. Every statement is sent with the /* planwatch */ prefix.

-- name: connection_facts
SELECT current_setting('server_version_num')::int AS version_num,
       current_user AS role,
       current_database() AS dbname,
       pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS read_all_stats,
       current_setting('pg_stat_statements.max', true) AS max_entries,
       (SELECT n.nspname
          FROM pg_catalog.pg_extension AS e
          JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
         WHERE e.extname = 'pg_stat_statements') AS pgss_schema;

-- name: pgss_columns
SELECT a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_catalog.pg_attribute AS a
  JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
 WHERE n.nspname = %(schema)s AND c.relname = %(relation)s
   AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum;

-- name: server_state
SELECT pg_postmaster_start_time() AS started,
       (SELECT count(*) FROM {schema}.pg_stat_statements(showtext := false)) AS entries;

-- name: statements_info
SELECT dealloc, stats_reset FROM {schema}.pg_stat_statements_info;

-- name: statements
SELECT d.datname, s.dbid, s.userid, s.queryid,
       {toplevel} AS toplevel, {stats_since} AS stats_since, {counters}
  FROM {schema}.pg_stat_statements(showtext := false) AS s
  JOIN pg_catalog.pg_database AS d ON d.oid = s.dbid
 WHERE d.datname = ANY(%(databases)s);

-- name: statement_texts
SELECT d.datname, s.queryid, s.query
  FROM {schema}.pg_stat_statements(showtext := true) AS s
  JOIN pg_catalog.pg_database AS d ON d.oid = s.dbid
 WHERE s.queryid = ANY(%(queryids)s::bigint[]) AND d.datname = ANY(%(databases)s);

-- name: generic_plan
EXPLAIN (GENERIC_PLAN, FORMAT JSON) {statement};

-- name: begin_read_only
BEGIN READ ONLY;

-- name: rollback
ROLLBACK;

-- name: force_generic_plan
SET LOCAL plan_cache_mode = force_generic_plan;

-- name: prepare
PREPARE {name} AS {statement};

-- name: explain_execute
EXPLAIN (FORMAT JSON) EXECUTE {name}{arguments};

-- name: deallocate
DEALLOCATE {name};
