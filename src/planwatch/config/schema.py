"""The shape of planwatch.yaml: its top level, and how to walk it by path.

The sections are the frozen classes of `settings` (each setting and default is defined
there, once); only the top level differs from what code reads, since `storage.url` and
`worker.*` become `Settings.storage_url`, `worker_name` and `environment`. Rules that span
sections (unique names, references between sections) live in `rules.py` so they are
reported even when some field elsewhere is invalid.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict
from pydantic.fields import FieldInfo

from planwatch.config.fields import NOT_IN_FILE, StorageUrl, ValidatedAs
from planwatch.config.fields import parse_threshold as parse_threshold
from planwatch.config.settings import (
    AlertingSettings,
    AnalysisSettings,
    CheckSettings,
    HttpSettings,
    LoggingSettings,
    RetentionSettings,
    SchedulingSettings,
    TargetSettings,
    TelemetrySettings,
    default_jobs,
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageModel(_Model):
    url: StorageUrl = "sqlite:///planwatch.db"


class WorkerModel(_Model):
    name: str = ""
    environment: str = ""


class ConfigModel(_Model):
    storage: StorageModel = StorageModel()
    targets: tuple[TargetSettings, ...] = ()
    scheduling: SchedulingSettings = SchedulingSettings(jobs=default_jobs())
    analysis: AnalysisSettings = AnalysisSettings()
    checks: tuple[CheckSettings, ...] = ()
    alerting: AlertingSettings = AlertingSettings()
    retention: RetentionSettings = RetentionSettings()
    http: HttpSettings = HttpSettings()
    logging: LoggingSettings = LoggingSettings()
    worker: WorkerModel = WorkerModel()
    telemetry: TelemetrySettings = TelemetrySettings()


# -- schema navigation (for env overrides and "did you mean" hints) ------------------------


def child_type(parent: Any, key: str | int) -> Any:
    """The schema type under `key` of `parent` (a section, list or dict type), or None."""
    parent = _unwrap(parent)
    if isinstance(key, str) and _is_section(parent):
        field = file_fields(parent).get(key)
        return _unwrap(field) if field is not None else None
    origin, args = get_origin(parent), get_args(parent)
    if origin in (list, tuple) and isinstance(key, int):
        return _unwrap(args[0])
    if origin is dict and isinstance(key, str):
        return _unwrap(args[1])
    return None


def is_list(tp: Any) -> bool:
    return get_origin(_unwrap(tp)) in (list, tuple)


def field_names(tp: Any) -> list[str]:
    tp = _unwrap(tp)
    return list(file_fields(tp)) if _is_section(tp) else []


def file_fields(section: type) -> dict[str, Any]:
    """The keys the file may give in `section` (aliases such as `for`, not `for_`), each with
    its annotated type."""
    if issubclass(section, BaseModel):
        return {f.alias or n: f.annotation for n, f in section.model_fields.items()}
    keys: dict[str, Any] = {}
    for name, hint in typing.get_type_hints(section, include_extras=True).items():
        if isinstance(hint, dataclasses.InitVar):
            hint = hint.type
        metadata = get_args(hint)[1:] if get_origin(hint) is Annotated else ()
        if any(m is NOT_IN_FILE for m in metadata):
            continue
        alias = next((m.alias for m in metadata if isinstance(m, FieldInfo) and m.alias), None)
        keys[alias or name] = hint
    return keys


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and (issubclass(tp, BaseModel) or dataclasses.is_dataclass(tp))


def _unwrap(tp: Any) -> Any:
    """Strip `Annotated[...]` (down to what a `ValidatedAs` validates) and `X | None` to X."""
    while True:
        if get_origin(tp) is Annotated:
            validated = [m.source for m in get_args(tp)[1:] if isinstance(m, ValidatedAs)]
            tp = validated[0] if validated else get_args(tp)[0]
            continue
        args = [a for a in get_args(tp) if a is not type(None)]
        if type(None) in get_args(tp) and len(args) == 1:
            tp = args[0]
            continue
        return tp
