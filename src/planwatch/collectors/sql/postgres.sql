-- PostgreSQL statements of the pg_stat_statements collector.
-- `{name}` placeholders are filled with psycopg.sql (identifiers, column lists);
-- `%(name)s` are bound parameters. Every statement is sent with the /* planwatch */ prefix.

-- name: connection_facts
SELECT current_setting('server_version_num')::int AS version_num,
       current_user AS role,
       current_setting('is_superuser') = 'on' AS superuser,
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

-- name: role_context
-- The role behind a pg_stat_statements userid and the settings it gets in one database, lowest
-- precedence first (database, then role, then role in database), with what pg_settings says
-- about each: who may set it, and whether it steers the planner.
SELECT r.rolname AS role,
       pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER') AS can_set_role,
       cfg.name, cfg.value, ps.context,
       (starts_with(ps.category, 'Query Tuning') OR cfg.name = ANY(%(extra)s)) AS planner
  FROM pg_catalog.pg_roles AS r
 CROSS JOIN pg_catalog.pg_database AS d
  LEFT JOIN LATERAL (
        SELECT split_part(c, '=', 1) AS name, substr(c, strpos(c, '=') + 1) AS value,
               (s.setrole <> 0)::int + (s.setrole <> 0 AND s.setdatabase <> 0)::int AS rank
          FROM pg_catalog.pg_db_role_setting AS s, unnest(s.setconfig) AS c
         WHERE (s.setrole = r.oid AND s.setdatabase IN (0, d.oid))
            OR (s.setrole = 0 AND s.setdatabase = d.oid)
       ) AS cfg ON true
  LEFT JOIN pg_catalog.pg_settings AS ps ON ps.name = cfg.name
 WHERE r.oid = %(userid)s AND d.datname = %(dbname)s
 ORDER BY cfg.rank NULLS FIRST;

-- name: set_role
SET LOCAL ROLE {role};

-- name: apply_settings
SELECT pg_catalog.set_config(n, v, true)
  FROM unnest(%(names)s::text[], %(values)s::text[]) AS x(n, v);

-- name: savepoint
SAVEPOINT planwatch_step;

-- name: rollback_to_savepoint
ROLLBACK TO SAVEPOINT planwatch_step;

-- name: release_savepoint
RELEASE SAVEPOINT planwatch_step;

-- name: hypopg_schema
SELECT (SELECT n.nspname
          FROM pg_catalog.pg_extension AS e
          JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
         WHERE e.extname = 'hypopg') AS schema;

-- name: hypopg_create
SELECT 1 FROM {schema}.hypopg_create_index(%(ddl)s);

-- name: hypopg_reset
SELECT {schema}.hypopg_reset();

-- name: activity
-- Active sessions per query and what each waits on right now (PG 14+: query_id); 'CPU' when
-- it waits on nothing.
SELECT a.datname, a.query_id,
       COALESCE(a.wait_event_type || '/' || a.wait_event, 'CPU') AS event, count(*) AS n
  FROM pg_catalog.pg_stat_activity AS a
 WHERE a.state = 'active' AND a.query_id IS NOT NULL AND a.query_id <> 0
   AND a.pid <> pg_catalog.pg_backend_pid() AND a.backend_type = 'client backend'
   AND a.datname = ANY(%(databases)s)
 GROUP BY 1, 2, 3;

-- name: wait_sampling_schema
SELECT (SELECT n.nspname
          FROM pg_catalog.pg_extension AS e
          JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
         WHERE e.extname = 'pg_wait_sampling') AS schema,
       current_setting('pg_wait_sampling.profile_period', true) AS period_ms;

-- name: wait_sampling_profile
-- Cumulative wait samples per query and event (pg_wait_sampling samples every period_ms).
SELECT p.queryid, p.event_type || '/' || p.event AS event, sum(p.count)::float8 AS n
  FROM {schema}.pg_wait_sampling_profile AS p
 WHERE p.queryid <> 0 AND p.event_type IS NOT NULL
   AND p.event_type NOT IN ('Activity', 'Client', 'Extension')
 GROUP BY 1, 2;

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
