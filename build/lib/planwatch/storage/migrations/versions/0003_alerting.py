"""Alerting: silences, escalation and evaluation times on alerts, routing marks on events;
hourly roll-ups of expired samples (retention downsampling).

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23

`alert_events.routed_at` marks events the alert processor has turned into outbox rows; the
events already present are marked routed here so an upgrade does not page for old history.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "silences",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("matchers", JSON, nullable=False),
        sa.Column("starts_at", TIMESTAMP, nullable=False),
        sa.Column("ends_at", TIMESTAMP, nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silences")),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"], unique=False)
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("evaluated_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("escalated_at", TIMESTAMP, nullable=True))
    with op.batch_alter_table("alert_events") as batch:
        batch.add_column(sa.Column("routed_at", TIMESTAMP, nullable=True))
    op.execute("UPDATE alert_events SET routed_at = at")
    op.create_index("ix_alert_events_routed_at", "alert_events", ["routed_at"], unique=False)
    op.create_table(
        "query_samples_hourly",
        sa.Column("query_pk", ID, nullable=False),
        sa.Column("hour_start", TIMESTAMP, nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("total_ms", sa.Float(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("blks_hit", sa.BigInteger(), nullable=False),
        sa.Column("blks_read", sa.BigInteger(), nullable=False),
        sa.Column("blks_temp", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["query_pk"], ["queries.id"], ondelete="CASCADE",
            name=op.f("fk_query_samples_hourly_query_pk_queries"),
        ),
        sa.PrimaryKeyConstraint("query_pk", "hour_start", name=op.f("pk_query_samples_hourly")),
    )
    op.create_index("ix_query_samples_hourly_hour_start", "query_samples_hourly", ["hour_start"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_query_samples_hourly_hour_start", table_name="query_samples_hourly")
    op.drop_table("query_samples_hourly")
    op.drop_index("ix_alert_events_routed_at", table_name="alert_events")
    with op.batch_alter_table("alert_events") as batch:
        batch.drop_column("routed_at")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("escalated_at")
        batch.drop_column("evaluated_at")
    op.drop_index("ix_silences_ends_at", table_name="silences")
    op.drop_table("silences")
