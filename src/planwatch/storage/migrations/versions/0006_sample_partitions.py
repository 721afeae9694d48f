"""PostgreSQL: `query_samples` becomes range-partitioned by day on `interval_start`.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01

No row is copied: the existing table is renamed `query_samples_legacy` and attached as the
partition of everything before the day after its newest sample (attaching only scans it to
check that bound), so an upgrade takes seconds, not the time to rewrite months of samples.
Retention empties and then drops it like any other partition. A DEFAULT partition takes rows
whose day was not created in time; the day partitions themselves are created by
`Storage.migrate` and the maintenance job (`planwatch.storage.partitions`). SQLite: no change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, timedelta

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger()
TIMESTAMP = sa.DateTime(timezone=True)


def _columns() -> list[sa.Column[object]]:
    return [
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
        sa.Column("extras", postgresql.JSONB(), nullable=True),
        sa.Column("held_out", sa.Boolean(), nullable=False, server_default=sa.false()),
    ]


def _constraints() -> list[sa.Constraint]:
    return [
        sa.ForeignKeyConstraint(["query_pk"], ["queries.id"], ondelete="CASCADE",
                                name="fk_query_samples_query_pk_queries"),
        sa.PrimaryKeyConstraint("query_pk", "interval_start", name="pk_query_samples"),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE query_samples RENAME TO query_samples_legacy")
    op.execute("ALTER TABLE query_samples_legacy RENAME CONSTRAINT pk_query_samples"
               " TO query_samples_legacy_pkey")
    op.execute("ALTER INDEX ix_query_samples_interval_end"
               " RENAME TO query_samples_legacy_interval_end_idx")
    op.create_table("query_samples", *_columns(), *_constraints(),
                    postgresql_partition_by="RANGE (interval_start)")
    op.create_index("ix_query_samples_interval_end", "query_samples", ["interval_end"])
    newest = bind.execute(sa.text("SELECT max(interval_start) FROM query_samples_legacy")).scalar()
    if newest is None:
        op.execute("DROP TABLE query_samples_legacy")
    else:
        upper = newest.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        upper += timedelta(days=1)
        op.execute("ALTER TABLE query_samples ATTACH PARTITION query_samples_legacy"
                   f" FOR VALUES FROM (MINVALUE) TO ('{upper.isoformat()}')")
    op.execute("CREATE TABLE query_samples_default PARTITION OF query_samples DEFAULT")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.create_table("query_samples_flat", *_columns())
    op.execute("INSERT INTO query_samples_flat SELECT * FROM query_samples")
    op.drop_table("query_samples")  # and every partition with it
    op.rename_table("query_samples_flat", "query_samples")
    op.create_primary_key("pk_query_samples", "query_samples", ["query_pk", "interval_start"])
    op.create_foreign_key("fk_query_samples_query_pk_queries", "query_samples", "queries",
                          ["query_pk"], ["id"], ondelete="CASCADE")
    op.create_index("ix_query_samples_interval_end", "query_samples", ["interval_end"])
