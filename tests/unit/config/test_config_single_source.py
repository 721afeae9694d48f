"""Each setting and its default are written once: what the file leaves out is what code gets
when it builds the same settings class without that value."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pytest
from pydantic import TypeAdapter

from planwatch.config import loader, schema
from planwatch.config.check_settings import CHECK_INTERVAL
from planwatch.config.settings import (
    JOB_KINDS,
    ChannelSettings,
    CheckMetricSettings,
    CheckSettings,
    SchedulingSettings,
    Secret,
    Settings,
    SilenceSettings,
    TargetSettings,
    default_jobs,
)

REQUIRED: dict[type, tuple[dict[str, Any], object]] = {
    # a section with required keys: its smallest entry in the file, and the same built in code
    TargetSettings: ({"name": "t", "dsn": "sqlite:///x.db"},
                     TargetSettings("t", "sqlite", Secret("sqlite:///x.db"))),
    ChannelSettings: ({"name": "c", "url": "json://h"}, ChannelSettings("c", Secret("json://h"))),
    SilenceSettings: ({"matchers": {"a": "b"}}, SilenceSettings({"a": "b"})),
    CheckSettings: ({"name": "c", "sql": "select 1", "target": "t", "warning": "> 1"},
                    CheckSettings("c", "select 1", targets=("t",), warning="> 1",
                                  interval=CHECK_INTERVAL)),
    CheckMetricSettings: ({"name": "m"}, CheckMetricSettings("m", "gauge", "")),
    SchedulingSettings: ({}, SchedulingSettings(default_jobs())),
}


def _sections(tp: Any, found: set[type] | None = None) -> set[type]:
    """Every settings class reachable from `tp`'s fields (through tuples, dicts, `| None`)."""
    found = set() if found is None else found
    if dataclasses.is_dataclass(tp) and isinstance(tp, type) and tp not in (Secret, *found):
        found.add(tp)
        for hint in typing.get_type_hints(tp).values():
            _sections(hint, found)
    for arg in typing.get_args(tp):
        _sections(arg, found)
    return found


SECTIONS = sorted(_sections(Settings) - {Settings}, key=lambda c: c.__name__)


def test_every_section_is_checked() -> None:
    assert {c.__name__ for c in SECTIONS} >= {
        "AlertingSettings", "AnalysisSettings", "BackoffSettings", "CheckMetricSettings",
        "CheckSettings", "ChannelSettings", "EscalationSettings", "HotspotSettings",
        "HttpSettings", "JobSettings", "LoggingSettings", "RegressionSettings",
        "RetentionSettings", "SchedulingSettings", "SilenceSettings", "TargetSettings",
        "TelemetrySettings",
    }  # fmt: skip


@pytest.mark.parametrize("section", SECTIONS, ids=lambda c: c.__name__)
def test_the_file_default_is_the_class_default(section: type) -> None:
    given, built = REQUIRED.get(section, ({}, None))
    assert TypeAdapter(section).validate_python(given) == (built or section())


def test_an_empty_file_gives_what_code_builds_by_default() -> None:
    loaded = loader.load_mapping({}, environ={})
    built = Settings(storage_url=Secret("sqlite:///planwatch.db"), targets=(),
                     scheduling=SchedulingSettings(default_jobs()))
    assert dataclasses.replace(loaded, digest="") == built


def test_an_empty_section_is_a_section_left_out() -> None:
    given: dict[str, Any] = {name: {} for name in schema.ConfigModel.model_fields}
    given.update(targets=[], checks=[], analysis={"regression": {}, "hotspots": {}},
                 alerting={"escalation": {}},
                 scheduling={"backoff": {}, **{kind: {} for kind in JOB_KINDS}})
    assert loader.load_mapping(given, environ={}) == loader.load_mapping({}, environ={})


def test_the_file_has_no_parallel_section_models() -> None:
    """The top level of the file names the settings classes themselves, not copies."""
    code = typing.get_type_hints(Settings)
    shared = [n for n in schema.ConfigModel.model_fields if n in code]
    assert set(schema.ConfigModel.model_fields) - set(shared) == {"storage", "worker"}
    for name in shared:
        assert schema.ConfigModel.model_fields[name].annotation == code[name], name


def test_job_entries_follow_job_kinds() -> None:
    """`SchedulingSettings.__post_init__` pairs its job entries with JOB_KINDS by position."""
    hints = typing.get_type_hints(SchedulingSettings)
    entries = [n for n, h in hints.items() if isinstance(h, dataclasses.InitVar)]
    assert entries == list(JOB_KINDS)
