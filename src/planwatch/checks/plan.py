"""Which checks run where: check settings + targets -> one `Task` per (check, target).

A check names its targets explicitly (`target` / `targets`) or selects them by tag; a
disabled target is left out. An endpoint check (`kind: http`) is one task, labelled with
its `target` when given and with the URL's host otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from planwatch.checks.evaluation import Judgement, Shape
from planwatch.config.settings import CheckSettings, JobSettings, TargetSettings


@dataclass(frozen=True, slots=True)
class Task:
    """One check on one target, with its schedule and how its result is judged."""

    check: CheckSettings
    target: str
    schedule: JobSettings
    shape: Shape
    judgement: Judgement

    @property
    def key(self) -> str:
        return f"{self.check.name}@{self.target}"

    @property
    def name(self) -> str:
        return self.check.name


def tasks(checks: Iterable[CheckSettings], targets: Iterable[TargetSettings]) -> list[Task]:
    """The tasks of all enabled checks, in config order."""
    enabled = [t for t in targets if t.enabled]
    out: list[Task] = []
    for check in checks:
        if not check.enabled:
            continue
        schedule = JobSettings(interval=check.interval, cron=check.cron)
        shape, judgement = Shape.of(check), Judgement.of(check)
        out += [Task(check, name, schedule, shape, judgement) for name in select(check, enabled)]
    return out


def select(check: CheckSettings, targets: list[TargetSettings]) -> list[str]:
    """Target names a check runs on."""
    if check.kind == "http":
        return [check.targets[0] if check.targets else endpoint_label(check.url or "")]
    if check.targets:
        names = {t.name for t in targets}
        return [n for n in check.targets if n in names]
    wanted = set(check.tags)
    return [t.name for t in targets if wanted & set(t.tags)]


def endpoint_labels(
    checks: Iterable[CheckSettings], targets: Iterable[TargetSettings]
) -> list[str]:
    """Labels of the endpoint checks that are not about a target: in fleet mode each is run
    by the holder of its own `endpoint:` lease (the others follow their target's lease)."""
    enabled = [t for t in targets if t.enabled]
    names = {t.name for t in enabled}
    return sorted({t.target for t in tasks(checks, enabled)
                   if t.check.kind == "http" and t.target not in names})


def endpoint_label(url: str) -> str:
    """host[:port] of a URL, without any credentials."""
    parts = urlsplit(url)
    host = parts.hostname or url
    return f"{host}:{parts.port}" if parts.port else host
