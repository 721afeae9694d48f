"""A tiny single-flight, stale-while-revalidate cache for page data.

Twenty people (or twenty auto-refreshing tabs) looking at the overview should cost one set of
storage reads, not twenty. An entry is fresh for `ttl_s`; after that the next request starts
one refresh in the background and is answered with the previous data meanwhile, so nobody
waits behind a refill. Rendering still happens per request, and any write made through the
web (ack, resolve, silence) clears the cache so its author sees the result at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
MAX_ENTRIES = 256
STALE_LIMIT_S = 60.0  # older data is never served, even while a refresh runs


@dataclass
class _Entry:
    fresh_until: float
    pending: asyncio.Future[Any] | None = None
    value: Any = None
    has_value: bool = False
    computed_at: float = field(default=0.0)


class ReadCache:
    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[Hashable, _Entry] = {}

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        if self.ttl_s <= 0:  # caching off (bench/dashboard.py --no-cache)
            return await compute()
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= MAX_ENTRIES:
                self._purge(now)
            entry = self._entries[key] = _Entry(fresh_until=0.0)
        usable = entry.has_value and now - entry.computed_at <= STALE_LIMIT_S
        if usable and now < entry.fresh_until:
            value: T = entry.value
            return value
        if entry.pending is None:
            entry.pending = asyncio.ensure_future(self._refresh(entry, compute))
            entry.pending.add_done_callback(_retrieve)
        if usable:  # stale: answer now, the refresh finishes in the background
            value = entry.value
            return value
        result: T = await asyncio.shield(entry.pending)
        return result

    async def _refresh(self, entry: _Entry, compute: Callable[[], Awaitable[T]]) -> T:
        try:
            value = await compute()
        finally:
            entry.pending = None
        now = time.monotonic()
        entry.value, entry.has_value = value, True
        entry.computed_at, entry.fresh_until = now, now + self.ttl_s
        return value

    def clear(self) -> None:
        self._entries.clear()

    def _purge(self, now: float) -> None:
        for key in [k for k, e in self._entries.items()
                    if e.pending is None and now - e.computed_at > STALE_LIMIT_S]:
            del self._entries[key]
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a background refresh's error as seen (the next request retries and reports it)."""
    if not future.cancelled():
        future.exception()
