"""Validated file -> frozen `Settings`, and the digest of the effective config."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import time, timedelta
from typing import Any

from planwatch.config import schema
from planwatch.config import settings as s


def to_settings(config: schema.ConfigModel) -> s.Settings:
    """The frozen settings for a validated config, digest included. The sections are already
    settings; only the top level is reshaped."""
    settings = s.Settings(
        storage_url=s.Secret(config.storage.url),
        targets=config.targets,
        scheduling=config.scheduling,
        analysis=config.analysis,
        checks=config.checks,
        alerting=config.alerting,
        retention=config.retention,
        http=config.http,
        logging=config.logging,
        telemetry=config.telemetry,
        worker_name=config.worker.name,
        environment=config.worker.environment,
    )
    return dataclasses.replace(settings, digest=digest(settings))


def digest(settings: s.Settings) -> str:
    """sha256 of the canonical JSON of `settings`, secrets replaced by `***`: equal configs
    have equal digests, and a rotated password alone does not change it."""
    plain = _plain(settings)
    plain.pop("digest", None)
    plain.pop("ignored_env", None)
    canonical = json.dumps(plain, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, s.Secret):
        return "***"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
