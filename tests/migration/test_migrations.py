"""The migrated schema is exactly `tables.metadata`, on every storage backend."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from planwatch.storage import tables
from planwatch.storage.engine import Storage


def schema_diff(st: Storage, metadata: sa.MetaData) -> list[Any]:
    with st.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_migrate_produces_the_declared_schema(storage_url: str) -> None:
    st = Storage.open(storage_url)
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
    finally:
        st.close()
