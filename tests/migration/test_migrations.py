"""The migrated schema is exactly `tables.metadata`, on every storage backend."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from planwatch.storage import partitions, tables
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration


def schema_diff(st: Storage, metadata: sa.MetaData) -> list[Any]:
    with st.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": partitions.include_name})
        return list(compare_metadata(context, metadata))


def test_migrate_produces_the_declared_schema(empty_storage_url: str) -> None:
    st = Storage.open(empty_storage_url)
    try:
        assert not st.schema_current()
        st.migrate()
        assert st.schema_current()
        st.migrate()  # a second run is a no-op
        assert st.schema_current()

        assert schema_diff(st, tables.metadata) == []

        # The comparison is able to see a drift: a column the migrations do not create.
        drifted = sa.MetaData(naming_convention=tables.NAMING)
        for table in tables.metadata.sorted_tables:
            table.to_metadata(drifted)
        drifted.tables["targets"].append_column(sa.Column("extra", sa.Integer))
        assert [d[0] for d in schema_diff(st, drifted)] == ["add_column"]

        # The one thing autogenerate does not compare: PostgreSQL's partitioning of samples.
        assert partitions.partitioned(st) is (st.dialect == "postgresql")
        if st.dialect == "postgresql":
            with st.connect() as conn:
                strategy, column = conn.execute(sa.text(
                    "SELECT p.partstrat, a.attname FROM pg_partitioned_table p"
                    " JOIN pg_attribute a ON a.attrelid = p.partrelid"
                    " AND a.attnum = p.partattrs[0]"
                    " WHERE p.partrelid = 'query_samples'::regclass")).one()
            assert (strategy, column) == ("r", "interval_start")
            assert tables.query_samples.dialect_options["postgresql"]["partition_by"] == (
                "RANGE (interval_start)")
    finally:
        st.close()
