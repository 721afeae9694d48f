"""Detection you can trust: held-out samples, plan requests, plan context, query lineage.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

`query_samples.held_out` marks intervals judged abnormal (a regression, or a suspect interval
of a query still learning) so no baseline ever folds them in; `plan_requests` carries the
analysis' requests for fresh plan captures to whichever worker collects the target;
`plans.context` records the role and settings a plan was explained with;
`queries.predecessor_pk` links a query whose native id changed to the one it continues.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("query_samples") as batch:
        batch.add_column(sa.Column("held_out", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table("plans") as batch:
        batch.add_column(sa.Column("context", JSON, nullable=True))
    with op.batch_alter_table("queries") as batch:
        batch.add_column(sa.Column("predecessor_pk", ID, nullable=True))
    op.create_table(
        "plan_requests",
        sa.Column("query_pk", ID, nullable=False),
        sa.Column("requested_at", TIMESTAMP, nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("candidates", JSON, nullable=True),
        sa.Column("attempted_at", TIMESTAMP, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["query_pk"], ["queries.id"], ondelete="CASCADE",
                                name=op.f("fk_plan_requests_query_pk_queries")),
        sa.PrimaryKeyConstraint("query_pk", name=op.f("pk_plan_requests")),
    )


def downgrade() -> None:
    op.drop_table("plan_requests")
    with op.batch_alter_table("queries") as batch:
        batch.drop_column("predecessor_pk")
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("context")
    with op.batch_alter_table("query_samples") as batch:
        batch.drop_column("held_out")
