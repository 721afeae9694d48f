"""Notifications: grouped messages with idempotency keys, group state, pending alerts.

Revision ID: 0005
Revises: 0006
Create Date: 2026-12-01

`notification_outbox` rows become the events waiting for (or carried by) a message of the new
`notifications` table, which holds what is sent and its attempts; its own retry columns move
there. Rows still pending at the upgrade are batched into messages by the next cycle.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("pending_since", TIMESTAMP, nullable=True))
    op.create_table(
        "notifications",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("group_key", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("key", name=op.f("uq_notifications_key")),
    )
    op.create_index("ix_notifications_status_next_attempt_at", "notifications",
                    ["status", "next_attempt_at"], unique=False)
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"],
                    unique=False)
    op.create_table(
        "notification_groups",
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("group_key", sa.String(length=512), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("firing", JSON, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("last_sent_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("channel", "group_key", name=op.f("pk_notification_groups")),
    )
    op.drop_index("ix_notification_outbox_status_next_attempt_at",
                  table_name="notification_outbox")
    with op.batch_alter_table("notification_outbox") as batch:
        batch.add_column(sa.Column("group_key", sa.String(length=512), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("notification_id", ID, nullable=True))
        batch.create_foreign_key(
            op.f("fk_notification_outbox_notification_id_notifications"), "notifications",
            ["notification_id"], ["id"], ondelete="SET NULL",
        )
        batch.drop_column("attempts")
        batch.drop_column("next_attempt_at")
        batch.drop_column("last_error")
    with op.batch_alter_table("notification_outbox") as batch:
        batch.alter_column("group_key", server_default=None)
    op.create_index("ix_notification_outbox_status_channel", "notification_outbox",
                    ["status", "channel"], unique=False)
    op.create_index("ix_notification_outbox_notification_id", "notification_outbox",
                    ["notification_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_notification_outbox_notification_id", table_name="notification_outbox")
    op.drop_index("ix_notification_outbox_status_channel", table_name="notification_outbox")
    with op.batch_alter_table("notification_outbox") as batch:
        batch.drop_constraint(op.f("fk_notification_outbox_notification_id_notifications"),
                              type_="foreignkey")
        batch.drop_column("notification_id")
        batch.drop_column("group_key")
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_attempt_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
    op.create_index("ix_notification_outbox_status_next_attempt_at", "notification_outbox",
                    ["status", "next_attempt_at"], unique=False)
    op.drop_table("notification_groups")
    op.drop_index("ix_notifications_created_at", table_name="notifications")
    op.drop_index("ix_notifications_status_next_attempt_at", table_name="notifications")
    op.drop_table("notifications")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("pending_since")
