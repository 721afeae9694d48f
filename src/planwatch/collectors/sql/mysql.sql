-- MySQL 8 / MariaDB 10.6+ statements of the performance_schema digest collector.
-- `{name}` placeholders are filled by the collector with column lists it validated itself or
-- with `%s` placeholder lists; `%s` are bound by pymysql. Every statement is sent with the
-- /* planwatch */ prefix (comments are stripped from DIGEST_TEXT, so our own digests are
-- learned from our thread's statement history instead, see `own_digests`).

-- name: server_facts
SELECT @@version AS version,
       @@performance_schema AS performance_schema,
       @@performance_schema_digests_size AS digests_size,
       CURRENT_USER() AS account;

-- name: own_thread
SELECT THREAD_ID AS thread_id
  FROM performance_schema.threads
 WHERE PROCESSLIST_ID = CONNECTION_ID();

-- name: digest_columns
SELECT COLUMN_NAME AS name
  FROM information_schema.COLUMNS
 WHERE TABLE_SCHEMA = 'performance_schema'
   AND TABLE_NAME = 'events_statements_summary_by_digest';

-- name: consumers
SELECT NAME AS name, ENABLED AS enabled FROM performance_schema.setup_consumers;

-- name: read_only
SET SESSION TRANSACTION READ ONLY;

-- name: timeout_mysql
SET SESSION max_execution_time = %s;

-- name: timeout_mariadb
SET SESSION max_statement_time = %s;

-- name: server_state
SHOW GLOBAL STATUS WHERE Variable_name IN ('Uptime', 'Performance_schema_digest_lost');

-- name: digests
SELECT SCHEMA_NAME AS schema_name, DIGEST AS digest, CAST(FIRST_SEEN AS CHAR) AS first_seen,
       CONCAT_WS(',', {counters}) AS counters
  FROM performance_schema.events_statements_summary_by_digest;

-- name: digest_texts
SELECT SCHEMA_NAME AS schema_name, DIGEST AS digest, DIGEST_TEXT AS digest_text
  FROM performance_schema.events_statements_summary_by_digest
 WHERE DIGEST IN ({digests});

-- name: own_digests
SELECT DISTINCT DIGEST AS digest
  FROM performance_schema.events_statements_history
 WHERE THREAD_ID = %s AND DIGEST IS NOT NULL AND SQL_TEXT LIKE '/* planwatch */%%';

-- name: sample_text
SELECT QUERY_SAMPLE_TEXT AS sql_text
  FROM performance_schema.events_statements_summary_by_digest
 WHERE DIGEST = %s AND SCHEMA_NAME <=> %s;

-- name: history_text
SELECT SQL_TEXT AS sql_text
  FROM performance_schema.{table}
 WHERE DIGEST = %s AND CURRENT_SCHEMA <=> %s AND SQL_TEXT IS NOT NULL
   AND SQL_TEXT NOT LIKE '/* planwatch */%%'
 ORDER BY TIMER_START DESC
 LIMIT 1;

-- name: activity
-- Statements running right now and what they wait for: an InnoDB row lock (the transaction
-- is in LOCK WAIT; needs the PROCESS privilege), a lock named by the thread state ("Waiting for
-- table metadata lock"), else 'CPU'. One snapshot per poll. A running statement has no DIGEST
-- yet (it is computed at the end): the collector matches its text to a digest's instead.
SELECT s.CURRENT_SCHEMA AS schema_name, s.SQL_TEXT AS sql_text,
       CASE WHEN t.trx_state = 'LOCK WAIT' THEN 'Lock/row lock'
            WHEN th.PROCESSLIST_STATE LIKE 'Waiting for %%' THEN CONCAT('Lock/', th.PROCESSLIST_STATE)
            ELSE 'CPU' END AS event,
       COUNT(*) AS n
  FROM performance_schema.events_statements_current AS s
  JOIN performance_schema.threads AS th ON th.THREAD_ID = s.THREAD_ID
  LEFT JOIN information_schema.INNODB_TRX AS t ON t.trx_mysql_thread_id = th.PROCESSLIST_ID
 WHERE s.END_EVENT_ID IS NULL AND s.SQL_TEXT IS NOT NULL
   AND th.PROCESSLIST_ID <> CONNECTION_ID()
 GROUP BY 1, 2, 3;

-- name: activity_without_process
-- The same without INNODB_TRX (no PROCESS privilege): row-lock waits are not visible.
SELECT s.CURRENT_SCHEMA AS schema_name, s.SQL_TEXT AS sql_text,
       CASE WHEN th.PROCESSLIST_STATE LIKE 'Waiting for %%' THEN CONCAT('Lock/', th.PROCESSLIST_STATE)
            ELSE 'CPU' END AS event,
       COUNT(*) AS n
  FROM performance_schema.events_statements_current AS s
  JOIN performance_schema.threads AS th ON th.THREAD_ID = s.THREAD_ID
 WHERE s.END_EVENT_ID IS NULL AND s.SQL_TEXT IS NOT NULL
   AND th.PROCESSLIST_ID <> CONNECTION_ID()
 GROUP BY 1, 2, 3;

-- name: explain
EXPLAIN FORMAT=JSON {statement};
