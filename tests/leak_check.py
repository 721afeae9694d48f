"""Assert that a block closes what it opens: sockets, files, database connections.

An object dropped while still open warns (ResourceWarning) only when its finalizer runs, which
for anything in a reference cycle is whenever the garbage collector next runs: in some later
test. `no_resource_warnings()` collects before and after the block, so a leak of the block
fails the test that made it instead of surfacing (or not) elsewhere.
"""

from __future__ import annotations

import contextlib
import gc
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def no_resource_warnings() -> Iterator[None]:
    gc.collect()  # garbage of earlier tests is not this block's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, f"left open: {leaks}"
