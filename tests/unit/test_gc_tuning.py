"""`planwatch run` tunes the cyclic garbage collector once started (in a child process: the
collector's settings are the whole interpreter's)."""

from __future__ import annotations

import subprocess
import sys


def test_tune_gc_freezes_what_start_up_made_and_raises_the_thresholds() -> None:
    code = ("import gc; from planwatch import daemon; before = gc.get_threshold(); "
            "daemon.tune_gc(); "
            "print(before, gc.get_threshold() == daemon.GC_THRESHOLDS, gc.get_freeze_count() > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["(700,", "10,", "10)", "True", "True"]
