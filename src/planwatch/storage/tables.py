"""All storage tables on one MetaData; dialect differences live in the TypeDecorators here.

Migrations (`storage/migrations/versions`) must produce exactly this schema; the migration
test compares them with Alembic's autogenerate.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)

ACTIVE_ALERT_STATUSES = ("pending", "open", "acknowledged")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    PostgreSQL keeps `timestamptz`; SQLite has no time zones, so values are stored as naive
    UTC (fixed-width text, so comparisons stay correct) and come back tagged with UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else to_db(value, dialect.name)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else from_db(value)


class JSONType(sa.TypeDecorator[Any]):
    """JSON documents: JSONB on PostgreSQL, JSON (text) elsewhere; None is SQL NULL."""

    impl = sa.JSON(none_as_null=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB(none_as_null=True))
        return dialect.type_descriptor(sa.JSON(none_as_null=True))


def to_db(value: datetime, dialect_name: str) -> datetime:
    """A datetime as the backend stores it (naive UTC on SQLite); naive input means UTC."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.replace(tzinfo=None) if dialect_name == "sqlite" else aware


def from_db(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Autoincrementing surrogate keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _id() -> sa.Column[int]:
    return sa.Column("id", Id, primary_key=True, autoincrement=True)


def _query_fk(**kw: Any) -> sa.Column[int]:
    return sa.Column(
        "query_pk", Id, sa.ForeignKey("queries.id", ondelete="CASCADE"), nullable=False, **kw
    )


targets = sa.Table(
    "targets",
    metadata,
    _id(),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("engine", sa.String(64), nullable=False),
    sa.Column("environment", sa.String(100), nullable=False),
    sa.Column("tags", JSONType, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("up", sa.Boolean, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("status_at", UTCDateTime, nullable=True),
    sa.Column("last_collected_at", UTCDateTime, nullable=True),
    sa.Column("health", JSONType, nullable=True),  # the last poll's collector health
    sa.Column("fatal", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

queries = sa.Table(
    "queries",
    metadata,
    _id(),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("database", sa.String(200), nullable=False),
    sa.Column("query_id", sa.String(128), nullable=False),
    sa.Column("fingerprint", sa.String(128), nullable=False),
    sa.Column("text", sa.Text, nullable=True),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    # The query this one continues after its native id changed (same fingerprint; table
    # re-created, restore, engine upgrade): history and baseline carry over. No foreign key:
    # adding one would make SQLite re-create the table every other one points to.
    sa.Column("predecessor_pk", Id, nullable=True),
    sa.UniqueConstraint("target", "database", "query_id"),
    sa.Index("ix_queries_fingerprint", "fingerprint"),
)

plans = sa.Table(
    "plans",
    metadata,
    _id(),
    _query_fk(),
    sa.Column("plan_hash", sa.String(128), nullable=False),
    sa.Column("engine_plan_hash", sa.String(128), nullable=True),
    sa.Column("plan_json", sa.Text, nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Column("context", JSONType, nullable=True),  # role/settings it was explained with
    sa.UniqueConstraint("query_pk", "plan_hash"),
)

collector_state = sa.Table(
    "collector_state",
    metadata,
    # The snapshot of cumulative counters the target's last stored poll measured up to: the
    # next poll (on any worker, after any restart) measures from it, so no interval is lost.
    sa.Column("target", sa.String(200), primary_key=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("state", sa.LargeBinary, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

plan_requests = sa.Table(
    "plan_requests",
    metadata,
    _query_fk(primary_key=True),
    sa.Column("requested_at", UTCDateTime, nullable=False),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("candidates", JSONType, nullable=True),  # index candidates to test (hypopg)
    sa.Column("attempted_at", UTCDateTime, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)

query_samples = sa.Table(
    "query_samples",
    metadata,
    _query_fk(primary_key=True),
    sa.Column("interval_start", UTCDateTime, primary_key=True),
    sa.Column("interval_end", UTCDateTime, nullable=False),
    sa.Column("plan_hash", sa.String(128), nullable=True),
    sa.Column("calls", sa.BigInteger, nullable=False),
    sa.Column("total_ms", sa.Float, nullable=False),
    sa.Column("mean_ms", sa.Float, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("blks_hit", sa.BigInteger, nullable=False),
    sa.Column("blks_read", sa.BigInteger, nullable=False),
    sa.Column("blks_temp", sa.BigInteger, nullable=False),
    sa.Column("extras", JSONType, nullable=True),
    # Judged abnormal (regressed, or suspect while learning): never enters a baseline.
    sa.Column("held_out", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_query_samples_interval_end", "interval_end"),
    # One partition per UTC day plus a default (storage/partitions.py, migration 0006).
    postgresql_partition_by="RANGE (interval_start)",
)

baselines = sa.Table(
    "baselines",
    metadata,
    _query_fk(primary_key=True),
    sa.Column("plan_hash", sa.String(128), primary_key=True),  # '' = all plans together
    sa.Column("window_start", UTCDateTime, nullable=False),
    sa.Column("window_end", UTCDateTime, nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("calls", sa.BigInteger, nullable=False),
    sa.Column("median_ms", sa.Float, nullable=False),
    sa.Column("p95_ms", sa.Float, nullable=False),
    sa.Column("mad_ms", sa.Float, nullable=False),
    sa.Column("mean_ms", sa.Float, nullable=False),
    sa.Column("stddev_ms", sa.Float, nullable=False),
    sa.Column("dominant_plan_hash", sa.String(128), nullable=True),
    sa.Column("rows_per_call", sa.Float, nullable=False),
    sa.Column("blks_per_call", sa.Float, nullable=False),
    sa.Column("temp_blks_per_call", sa.Float, nullable=False),
    sa.Column("computed_at", UTCDateTime, nullable=False),
)

alerts = sa.Table(
    "alerts",
    metadata,
    _id(),
    sa.Column("dedup_key", sa.String(512), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("severity", sa.String(32), nullable=False),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("database", sa.String(200), nullable=True),
    sa.Column("subject", sa.String(512), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("query_id", sa.String(128), nullable=True),
    sa.Column("query_text", sa.Text, nullable=True),
    sa.Column("plan_changed", sa.Boolean, nullable=True),
    sa.Column("baseline_ms", sa.Float, nullable=True),
    sa.Column("current_ms", sa.Float, nullable=True),
    sa.Column("ratio", sa.Float, nullable=True),
    sa.Column("opened_at", UTCDateTime, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=True),
    sa.Column("resolved_at", UTCDateTime, nullable=True),
    sa.Column("normal_windows", sa.Integer, nullable=False),
    sa.Column("details", JSONType, nullable=False),
    sa.Column("evaluated_at", UTCDateTime, nullable=True),  # last time its condition was judged
    sa.Column("escalated_at", UTCDateTime, nullable=True),
    sa.Column("pending_since", UTCDateTime, nullable=True),  # while pending: condition first seen
    sa.Index("ix_alerts_status_updated_at", "status", "updated_at"),
    sa.Index("ix_alerts_dedup_key_resolved_at", "dedup_key", "resolved_at"),
    # Two active alerts with one dedup key would be a twin page: the database forbids it.
    sa.Index(
        "uq_alerts_active_dedup_key",
        "dedup_key",
        unique=True,
        sqlite_where=sa.text("status <> 'resolved'"),
        postgresql_where=sa.text("status <> 'resolved'"),
    ),
)

alert_events = sa.Table(
    "alert_events",
    metadata,
    _id(),
    sa.Column("alert_id", Id, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("data", JSONType, nullable=False),
    sa.Column("routed_at", UTCDateTime, nullable=True),  # NULL: not yet turned into outbox rows
    sa.Index("ix_alert_events_alert_id_at", "alert_id", "at"),
    sa.Index("ix_alert_events_routed_at", "routed_at"),
)

notifications = sa.Table(
    "notifications",
    metadata,
    _id(),
    sa.Column("channel", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),  # alerts | daily_summary
    sa.Column("key", sa.String(64), nullable=False),  # the idempotency key the receiver sees
    sa.Column("group_key", sa.String(512), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | sent | failed (given up)
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("html", sa.Text, nullable=True),
    sa.Column("payload", JSONType, nullable=False),  # the JSON document webhooks receive
    sa.Column("items", sa.Integer, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("claimed_by", sa.String(64), nullable=True),  # worker sending it right now
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("key"),
    sa.Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),
    sa.Index("ix_notifications_created_at", "created_at"),
)

notification_outbox = sa.Table(  # one row per (event, channel); batched into notifications
    "notification_outbox",
    metadata,
    _id(),
    sa.Column("alert_id", Id, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_id", Id, sa.ForeignKey("alert_events.id", ondelete="CASCADE"), nullable=False),
    sa.Column("channel", sa.String(200), nullable=False),
    sa.Column("group_key", sa.String(512), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),  # pending | batched | sent | failed
    sa.Column("payload", JSONType, nullable=False),  # the event's alert document
    sa.Column("notification_id", Id,
              sa.ForeignKey("notifications.id", ondelete="SET NULL"), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("event_id", "channel"),
    sa.Index("ix_notification_outbox_status_channel", "status", "channel"),
    sa.Index("ix_notification_outbox_alert_id", "alert_id"),
    sa.Index("ix_notification_outbox_notification_id", "notification_id"),
)

notification_groups = sa.Table(  # per channel and group: what the channel was last told
    "notification_groups",
    metadata,
    sa.Column("channel", sa.String(200), primary_key=True),
    sa.Column("group_key", sa.String(512), primary_key=True),
    sa.Column("labels", JSONType, nullable=False),
    sa.Column("firing", JSONType, nullable=False),  # alert ids the channel was told are firing
    sa.Column("seq", sa.Integer, nullable=False),  # messages made for this group so far
    sa.Column("last_sent_at", UTCDateTime, nullable=True),  # last message made (or re-sent)
)

check_results = sa.Table(
    "check_results",
    metadata,
    _id(),
    sa.Column("check_name", sa.String(200), nullable=False),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("labels", JSONType, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),  # ok | warning | critical | error
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("value_text", sa.Text, nullable=True),
    sa.Column("duration_ms", sa.Float, nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("executed_at", UTCDateTime, nullable=False),
    sa.Column("job_run_id", Id, nullable=True),
    sa.Index("ix_check_results_check_target_at", "check_name", "target", "executed_at"),
    sa.Index("ix_check_results_executed_at", "executed_at"),
)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("instance_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("environment", sa.String(100), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("stopped_at", UTCDateTime, nullable=True),
    sa.Column("last_heartbeat", UTCDateTime, nullable=True),
    sa.Column("config_digest", sa.String(128), nullable=False),
    sa.Column("tags", JSONType, nullable=False),
    sa.Index("ix_workers_status", "status"),
)

job_runs = sa.Table(
    "job_runs",
    metadata,
    _id(),
    sa.Column("job_type", sa.String(64), nullable=False),
    sa.Column("job_name", sa.String(300), nullable=False),
    sa.Column("worker_id", sa.String(64), nullable=False),
    sa.Column("target", sa.String(200), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("scheduled_at", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("completed_at", UTCDateTime, nullable=True),
    sa.Column("duration_ms", sa.Float, nullable=True),
    sa.Column("result_status", sa.String(16), nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("retry_count", sa.Integer, nullable=False),
    sa.Column("max_retries", sa.Integer, nullable=False),
    sa.Column("next_retry_at", UTCDateTime, nullable=True),
    sa.Column("data", JSONType, nullable=False),
    sa.Index("ix_job_runs_started_at", "started_at"),
    sa.Index("ix_job_runs_job_name_started_at", "job_name", "started_at"),
)

worker_metrics = sa.Table(
    "worker_metrics",
    metadata,
    _id(),
    sa.Column("worker_id", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("cpu_percent", sa.Float, nullable=True),
    sa.Column("memory_rss_bytes", sa.BigInteger, nullable=True),
    sa.Column("jobs_run", sa.Integer, nullable=False),
    sa.Column("errors", sa.Integer, nullable=False),
    sa.Column("schedule_lag_ms", sa.Float, nullable=True),
    sa.Column("data", JSONType, nullable=False),
    sa.Index("ix_worker_metrics_worker_id_at", "worker_id", "at"),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(300), primary_key=True),  # "target:orders-db", "job:digest"
    sa.Column("owner", sa.String(64), nullable=False),  # worker instance id
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Index("ix_leases_expires_at", "expires_at"),
)

silences = sa.Table(
    "silences",
    metadata,
    _id(),
    sa.Column("matchers", JSONType, nullable=False),  # {"target": "orders-*", "kind": "check"}
    sa.Column("starts_at", UTCDateTime, nullable=False),
    sa.Column("ends_at", UTCDateTime, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_silences_ends_at", "ends_at"),
)

query_samples_hourly = sa.Table(
    "query_samples_hourly",
    metadata,
    _query_fk(primary_key=True),
    sa.Column("hour_start", UTCDateTime, primary_key=True),
    sa.Column("samples", sa.Integer, nullable=False),  # raw samples rolled up into this row
    sa.Column("calls", sa.BigInteger, nullable=False),
    sa.Column("total_ms", sa.Float, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("blks_hit", sa.BigInteger, nullable=False),
    sa.Column("blks_read", sa.BigInteger, nullable=False),
    sa.Column("blks_temp", sa.BigInteger, nullable=False),
    sa.Index("ix_query_samples_hourly_hour_start", "hour_start"),
)
