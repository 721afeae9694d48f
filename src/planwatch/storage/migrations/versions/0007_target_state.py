"""Target state in storage: the last poll's collector health and whether the last failure
was fatal, beside up/down and the last error, so any worker (the one that takes the target's
lease next, the one serving /health/ready) reads the same state; and `collector_state`, the
counter snapshot each target's last stored poll measured up to, so the next poll — on any
worker, after any restart — covers the time since it and no interval is lost.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "collector_state",
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("target", name=op.f("pk_collector_state")),
    )
    with op.batch_alter_table("targets") as batch:
        batch.add_column(sa.Column("health", JSON, nullable=True))
        batch.add_column(sa.Column("fatal", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("targets") as batch:
        batch.drop_column("fatal")
        batch.drop_column("health")
    op.drop_table("collector_state")
