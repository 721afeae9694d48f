"""The fair-share arithmetic behind target leases (pure)."""

from __future__ import annotations

import pytest

from planwatch.fleet import fair_share, surplus


@pytest.mark.parametrize(("items", "workers", "share"), [
    (10, 1, 10), (10, 2, 5), (10, 3, 4), (3, 5, 1), (0, 2, 0), (7, 0, 7),
])
def test_fair_share_covers_every_item(items: int, workers: int, share: int) -> None:
    assert fair_share(items, workers) == share
    assert share * max(1, workers) >= items


def test_surplus_gives_back_the_last_names_beyond_the_share() -> None:
    assert surplus({"d", "a", "c", "b"}, 2) == ["c", "d"]
    assert surplus({"a", "b"}, 2) == []
    assert surplus(set(), 0) == []
