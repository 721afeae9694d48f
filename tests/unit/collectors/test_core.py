"""The small shared parts of the poll cycle: missed polls, once-only warnings, the request inbox,
query refs. (The cycle itself runs in the PostgreSQL and MariaDB collector tests.)"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from planwatch.analysis import identity
from planwatch.collectors import core

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("previous", "previous_gap", "gap", "missed"),
    [
        (None, None, 5 * MIN, 0),  # first poll
        (T0, None, 5 * MIN, 0),  # second poll: no earlier gap to compare with
        (T0, 5 * MIN, 5 * MIN, 0),
        (T0, 5 * MIN, 10 * MIN, 0),  # twice as long is still on time
        (T0, 5 * MIN, 11 * MIN, 1),
        (T0, 5 * MIN, 15 * MIN, 2),
        (T0, 5 * MIN, 31 * MIN, 5),
    ],
)
def test_missed_polls_compare_the_gap_with_the_one_before(
    previous: datetime | None, previous_gap: timedelta | None, gap: timedelta, missed: int
) -> None:
    assert core.missed_polls(previous, previous_gap, T0 + gap) == missed


def test_a_warning_is_said_once_and_taken_once() -> None:
    warnings = core.Warnings()
    warnings.once("grant pg_read_all_stats")
    warnings.once("grant pg_read_all_stats")
    warnings.once("consumer off")
    assert warnings.take() == ["grant pg_read_all_stats", "consumer off"]
    assert warnings.take() == []
    warnings.once("consumer off")  # said before: not again
    assert warnings.take() == []


def test_the_inbox_hands_over_everything_put_from_other_threads() -> None:
    inbox: core.Inbox[int] = core.Inbox()
    threads = [threading.Thread(target=inbox.put, args=(range(i * 100, i * 100 + 100),))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(inbox.take()) == list(range(400))
    assert inbox.take() == []


def test_query_ref_fingerprints_the_text_when_there_is_one() -> None:
    ref = core.query_ref("pg", "shop", "42", "SELECT * FROM t WHERE a = $1")
    assert ref.fingerprint == identity.fingerprint("SELECT * FROM t WHERE a = $1") != ""
    assert (ref.target, ref.database, ref.query_id) == ("pg", "shop", "42")
    assert core.query_ref("pg", "shop", "42", None).fingerprint == ""
    assert core.query_ref("pg", "shop", "42", "").fingerprint == ""
