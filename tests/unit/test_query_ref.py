"""QueryRef: a dict key looked up ~20,000 times per analysis, so its hash is computed once."""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys

from planwatch.model.samples import QueryRef


def test_equal_refs_hash_equal_and_the_fingerprint_counts() -> None:
    a, b = QueryRef("pg1", "shop", "101", "f1"), QueryRef("pg1", "shop", "101", "f1")
    assert a == b and hash(a) == hash(b) and {a: 1}[b] == 1
    assert QueryRef("pg1", "shop", "101") != a
    assert repr(a) == "QueryRef(target='pg1', database='shop', query_id='101', fingerprint='f1')"


def test_replace_rehashes() -> None:
    moved = dataclasses.replace(QueryRef("pg1", "shop", "101"), query_id="202")
    assert hash(moved) == hash(QueryRef("pg1", "shop", "202"))
    assert {QueryRef("pg1", "shop", "202"): "x"}[moved] == "x"


def test_a_pickled_ref_is_hashed_again_in_another_process() -> None:
    """str hashes differ between processes (PYTHONHASHSEED): the cached one must not travel."""
    data = pickle.dumps({QueryRef("pg1", "shop", "101", "f1"): 7})
    code = ("import pickle, sys; from planwatch.model.samples import QueryRef; "
            "d = pickle.loads(sys.stdin.buffer.read()); "
            "print(d[QueryRef('pg1', 'shop', '101', 'f1')])")
    out = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True,
                         check=True, env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert out.stdout.strip() == b"7"
