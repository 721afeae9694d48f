"""Helpers for config tests: write YAML to a temp file and load it with an explicit env."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from planwatch.config import loader
from planwatch.config.settings import Settings
from planwatch.errors import ConfigError

LoadText = Callable[..., Settings]
Problems = Callable[..., dict[str, str]]


@pytest.fixture
def load_text(tmp_path: Path) -> LoadText:
    """`load_text(yaml, **env)` -> Settings, loading from a real file."""

    def load(text: str, **environ: str) -> Settings:
        path = tmp_path / "planwatch.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return loader.load(path, environ=environ)

    return load


@pytest.fixture
def problems(load_text: LoadText) -> Problems:
    """`problems(yaml, **env)` -> {location: message} of the ConfigError it must raise."""

    def collect(text: str, **environ: str) -> dict[str, str]:
        with pytest.raises(ConfigError) as caught:
            load_text(text, **environ)
        return dict(caught.value.problems)

    return collect
