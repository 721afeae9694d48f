"""Fleet mode: the workers of one PostgreSQL storage share targets and run singleton jobs once.

Each worker holds about `ceil(targets / live workers)` target leases, renewed by its
heartbeat; a worker holding more than its share gives the extra back so a newcomer can take
them, and a dead worker's leases expire, so its targets move within one lease TTL. Endpoint
checks that are not about a target are shared the same way, through `endpoint:` leases.
Global jobs (alert processing, digest, cleanup, maintenance) run where their `job:` lease is held;
analysis and baseline rebuilds run on every worker for the targets it holds.
With SQLite storage there is one worker, which owns everything and takes no leases.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

import structlog

from planwatch.model.jobs import WorkerStatus
from planwatch.storage import leases, workers
from planwatch.storage.engine import Storage

log = structlog.get_logger(__name__)

TARGET = "target:"
ENDPOINT = "endpoint:"
JOB = "job:"


def fair_share(items: int, live_workers: int) -> int:
    """How many of `items` one of `live_workers` should hold (all of them are covered)."""
    return math.ceil(items / max(1, live_workers))


def surplus(held: Collection[str], share: int) -> list[str]:
    """Leases to give back when holding more than `share` (the last ones by name)."""
    return sorted(held)[share:] if len(held) > share else []


class Fleet:
    """This worker's view of the leases it holds; `refresh` is blocking (heartbeat thread)."""

    def __init__(self, storage: Storage, owner: str, *, ttl: timedelta, shared: bool) -> None:
        self.storage, self.owner, self.ttl, self.shared = storage, owner, ttl, shared
        self.targets: frozenset[str] = frozenset()
        self.held: frozenset[str] = frozenset()
        self.singletons: dict[str, bool] = {}  # kind -> held at its last gate check
        self.endpoints: frozenset[str] = frozenset()  # endpoint labels held

    def owns_target(self, name: str) -> bool:
        return not self.shared or name in self.held

    def owns_endpoint(self, label: str) -> bool:
        return not self.shared or label in self.endpoints

    def refresh(
        self, targets: Iterable[str], now: datetime, endpoints: Iterable[str] = (),
    ) -> frozenset[str]:
        """Renew, give back surplus, claim up to the fair share; the targets now held."""
        self.targets = frozenset(targets)
        if not self.shared:
            self.held, self.endpoints = self.targets, frozenset(endpoints)
            return self.held
        renewed = leases.renew(self.storage, self.owner, ttl=self.ttl, now=now)
        live = self._live_workers(now)
        self.held = self._balance(TARGET, self.targets, self.held, renewed, live, now)
        self.endpoints = self._balance(ENDPOINT, frozenset(endpoints), self.endpoints, renewed,
                                       live, now)
        return self.held

    def _balance(
        self, prefix: str, wanted: frozenset[str], before: frozenset[str], renewed: set[str],
        live: int, now: datetime,
    ) -> frozenset[str]:
        """The names of `prefix` leases held after giving back and claiming up to the share."""
        held = {n[len(prefix):] for n in renewed if n.startswith(prefix)}
        gone = held - wanted  # removed from the config
        share = fair_share(len(wanted), live)
        give_back = gone | set(surplus(held - gone, share))
        if give_back:
            leases.release(self.storage, self.owner, [prefix + n for n in give_back])
            held -= give_back
        if len(held) < share:
            free = [prefix + n for n in sorted(wanted - held)]
            taken = leases.claim(self.storage, free, self.owner, ttl=self.ttl, now=now,
                                 limit=share - len(held))
            held |= {n[len(prefix):] for n in taken}
        if frozenset(held) != before:
            log.info("fleet." + prefix.rstrip(":") + "s", held=sorted(held), share=share)
        return frozenset(held)

    def take_singleton(self, kind: str, ttl: timedelta, now: datetime) -> bool:
        """True when this worker holds (or just took) the lease of singleton job `kind`."""
        if not self.shared:
            return True
        held = bool(leases.claim(self.storage, [JOB + kind], self.owner,
                                 ttl=max(ttl, self.ttl), now=now, limit=1))
        self.singletons[kind] = held
        return held

    def runs(self, kind: str, target: str | None, singleton: bool) -> bool:
        """Whether this worker runs that job now (its target's lease, its singleton lease)."""
        if not self.shared:
            return True
        if target is not None:
            return target in self.held
        return self.singletons.get(kind, False) if singleton else True

    def release_all(self) -> None:
        if self.shared:
            leases.release(self.storage, self.owner)
            self.held = frozenset()

    def _live_workers(self, now: datetime) -> int:
        fresh_after = now - self.ttl
        return sum(
            1 for w in workers.list_all(self.storage)
            if w.status is WorkerStatus.RUNNING
            and (w.last_heartbeat or w.started_at) > fresh_after
        ) or 1
