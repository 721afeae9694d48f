"""Initial schema: targets, queries, plans, samples, baselines, alerts, workers, jobs, leases.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

Types are spelled out here (not imported from `planwatch.storage.tables`) so this revision
keeps meaning the same thing when the application's types evolve.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("dedup_key", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("database", sa.String(length=200), nullable=True),
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("query_id", sa.String(length=128), nullable=True),
        sa.Column("query_text", sa.Text(), nullable=True),
        sa.Column("plan_changed", sa.Boolean(), nullable=True),
        sa.Column("baseline_ms", sa.Float(), nullable=True),
        sa.Column("current_ms", sa.Float(), nullable=True),
        sa.Column("ratio", sa.Float(), nullable=True),
        sa.Column("opened_at", TIMESTAMP, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.Column("normal_windows", sa.Integer(), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(
        "ix_alerts_dedup_key_resolved_at", "alerts", ["dedup_key", "resolved_at"], unique=False
    )
    op.create_index("ix_alerts_status_updated_at", "alerts", ["status", "updated_at"], unique=False)
    op.create_index(
        "uq_alerts_active_dedup_key",
        "alerts",
        ["dedup_key"],
        unique=True,
        sqlite_where=sa.text("status <> 'resolved'"),
        postgresql_where=sa.text("status <> 'resolved'"),
    )

    op.create_table(
        "check_results",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("check_name", sa.String(length=200), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("value_text", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("executed_at", TIMESTAMP, nullable=False),
        sa.Column("job_run_id", ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_results")),
    )
    op.create_index(
        "ix_check_results_check_target_at",
        "check_results",
        ["check_name", "target", "executed_at"],
        unique=False,
    )
    op.create_index("ix_check_results_executed_at", "check_results", ["executed_at"], unique=False)

    op.create_table(
        "job_runs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("job_type", sa.String(length=64), nullable=False),
        sa.Column("job_name", sa.String(length=300), nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("scheduled_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("completed_at", TIMESTAMP, nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("result_status", sa.String(length=16), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("max_retries", sa.Integer(), nullable=False),
        sa.Column("next_retry_at", TIMESTAMP, nullable=True),
        sa.Column("data", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    op.create_index(
        "ix_job_runs_job_name_started_at", "job_runs", ["job_name", "started_at"], unique=False
    )
    op.create_index("ix_job_runs_started_at", "job_runs", ["started_at"], unique=False)

    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("acquired_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_index("ix_leases_expires_at", "leases", ["expires_at"], unique=False)

    op.create_table(
        "queries",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("database", sa.String(length=200), nullable=False),
        sa.Column("query_id", sa.String(length=128), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("first_seen", TIMESTAMP, nullable=False),
        sa.Column("last_seen", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queries")),
        sa.UniqueConstraint(
            "target", "database", "query_id", name=op.f("uq_queries_target_database_query_id")
        ),
    )
    op.create_index("ix_queries_fingerprint", "queries", ["fingerprint"], unique=False)

    op.create_table(
        "targets",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("engine", sa.String(length=64), nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("up", sa.Boolean(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("status_at", TIMESTAMP, nullable=True),
        sa.Column("last_collected_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_targets")),
        sa.UniqueConstraint("name", name=op.f("uq_targets_name")),
    )
    op.create_table(
        "worker_metrics",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("cpu_percent", sa.Float(), nullable=True),
        sa.Column("memory_rss_bytes", sa.BigInteger(), nullable=True),
        sa.Column("jobs_run", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("schedule_lag_ms", sa.Float(), nullable=True),
        sa.Column("data", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_metrics")),
    )
    op.create_index(
        "ix_worker_metrics_worker_id_at", "worker_metrics", ["worker_id", "at"], unique=False
    )

    op.create_table(
        "workers",
        sa.Column("instance_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("stopped_at", TIMESTAMP, nullable=True),
        sa.Column("last_heartbeat", TIMESTAMP, nullable=True),
        sa.Column("config_digest", sa.String(length=128), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_workers")),
    )
    op.create_index("ix_workers_status", "workers", ["status"], unique=False)

    op.create_table(
        "alert_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("alert_id", ID, nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_events_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index("ix_alert_events_alert_id_at", "alert_events", ["alert_id", "at"], unique=False)

    op.create_table(
        "baselines",
        sa.Column("query_pk", ID, nullable=False),
        sa.Column("plan_hash", sa.String(length=128), nullable=False),
        sa.Column("window_start", TIMESTAMP, nullable=False),
        sa.Column("window_end", TIMESTAMP, nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("median_ms", sa.Float(), nullable=False),
        sa.Column("p95_ms", sa.Float(), nullable=False),
        sa.Column("mad_ms", sa.Float(), nullable=False),
        sa.Column("mean_ms", sa.Float(), nullable=False),
        sa.Column("stddev_ms", sa.Float(), nullable=False),
        sa.Column("dominant_plan_hash", sa.String(length=128), nullable=True),
        sa.Column("rows_per_call", sa.Float(), nullable=False),
        sa.Column("blks_per_call", sa.Float(), nullable=False),
        sa.Column("temp_blks_per_call", sa.Float(), nullable=False),
        sa.Column("computed_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["query_pk"],
            ["queries.id"],
            name=op.f("fk_baselines_query_pk_queries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("query_pk", "plan_hash", name=op.f("pk_baselines")),
    )
    op.create_table(
        "plans",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("query_pk", ID, nullable=False),
        sa.Column("plan_hash", sa.String(length=128), nullable=False),
        sa.Column("engine_plan_hash", sa.String(length=128), nullable=True),
        sa.Column("plan_json", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("first_seen", TIMESTAMP, nullable=False),
        sa.Column("last_seen", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["query_pk"], ["queries.id"], name=op.f("fk_plans_query_pk_queries"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("query_pk", "plan_hash", name=op.f("uq_plans_query_pk_plan_hash")),
    )
    op.create_table(
        "query_samples",
        sa.Column("query_pk", ID, nullable=False),
        sa.Column("interval_start", TIMESTAMP, nullable=False),
        sa.Column("interval_end", TIMESTAMP, nullable=False),
        sa.Column("plan_hash", sa.String(length=128), nullable=True),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("total_ms", sa.Float(), nullable=False),
        sa.Column("mean_ms", sa.Float(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("blks_hit", sa.BigInteger(), nullable=False),
        sa.Column("blks_read", sa.BigInteger(), nullable=False),
        sa.Column("blks_temp", sa.BigInteger(), nullable=False),
        sa.Column("extras", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["query_pk"],
            ["queries.id"],
            name=op.f("fk_query_samples_query_pk_queries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("query_pk", "interval_start", name=op.f("pk_query_samples")),
    )
    op.create_index(
        "ix_query_samples_interval_end", "query_samples", ["interval_end"], unique=False
    )

    op.create_table(
        "notification_outbox",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("alert_id", ID, nullable=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_notification_outbox_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["alert_events.id"],
            name=op.f("fk_notification_outbox_event_id_alert_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_outbox")),
        sa.UniqueConstraint(
            "event_id", "channel", name=op.f("uq_notification_outbox_event_id_channel")
        ),
    )
    op.create_index(
        "ix_notification_outbox_alert_id", "notification_outbox", ["alert_id"], unique=False
    )
    op.create_index(
        "ix_notification_outbox_status_next_attempt_at",
        "notification_outbox",
        ["status", "next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("notification_outbox")
    op.drop_table("query_samples")
    op.drop_table("plans")
    op.drop_table("baselines")
    op.drop_table("alert_events")
    op.drop_table("workers")
    op.drop_table("worker_metrics")
    op.drop_table("targets")
    op.drop_table("queries")
    op.drop_table("leases")
    op.drop_table("job_runs")
    op.drop_table("check_results")
    op.drop_table("alerts")
