"""The storage contract suite runs every test on SQLite and on the throwaway PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from planwatch.storage.engine import Storage


@pytest.fixture
def storage(storage_url: str) -> Iterator[Storage]:
    """A migrated storage; fails the test if it leaked a pooled connection."""
    st = Storage.open(storage_url)
    st.migrate()
    try:
        yield st
        checked_out = st.engine.pool.checkedout()  # type: ignore[attr-defined]
        assert checked_out == 0, f"{checked_out} storage connection(s) leaked"
    finally:
        st.close()
