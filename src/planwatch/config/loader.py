"""Loading the configuration: file -> env overrides -> ${VAR} -> enc: -> schema -> Settings.

Every stage collects its problems instead of stopping at the first, so one `ConfigError`
lists everything that is wrong, each at its path (`targets[2].dsn: ...`).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic

from planwatch.config import convert, environment, rules, schema, yamlfile
from planwatch.config.problems import Loc, Problem, raise_if_any
from planwatch.config.settings import Settings
from planwatch.errors import ConfigError

CONFIG_ENV = "PLANWATCH_CONFIG"
DEFAULT_PATH = Path("planwatch.yaml")


def load(path: str | Path | None = None, *, environ: Mapping[str, str] | None = None) -> Settings:
    """The validated, frozen settings; `ConfigError` listing every problem otherwise.

    The file is `path`, else $PLANWATCH_CONFIG, else ./planwatch.yaml if it exists, else
    none (all defaults, no targets). `environ` defaults to `os.environ`.
    """
    env = os.environ if environ is None else environ
    source = resolve_path(path, env)
    raw = yamlfile.read(source) if source else {}
    return load_mapping(raw, environ=env)


def load_mapping(raw: Mapping[str, Any], *, environ: Mapping[str, str]) -> Settings:
    """`load` for an already-parsed YAML mapping (tests, `planwatch demo`)."""
    overrides = environment.apply_overrides(dict(raw), environ)
    tree, origins, problems = overrides.tree, overrides.origins, overrides.problems
    tree, found = environment.interpolate(tree, environ)
    problems += found
    tree, found = environment.decrypt(tree, environ)
    problems += found
    broken = [loc for loc, _ in problems]
    config: schema.ConfigModel | None = None
    try:
        config = schema.ConfigModel.model_validate(tree)
    except pydantic.ValidationError as exc:
        problems += [p for p in _schema_problems(exc, origins) if not _under(p[0], broken)]
    problems += rules.check(tree)
    raise_if_any(problems)
    assert config is not None  # no problems means validation succeeded
    return dataclasses.replace(convert.to_settings(config), ignored_env=tuple(overrides.ignored))


def resolve_path(path: str | Path | None, environ: Mapping[str, str]) -> Path | None:
    """Which file to read; an explicitly named file that does not exist is an error."""
    if path is not None:
        named, origin = Path(path), ""
    elif environ.get(CONFIG_ENV):
        named, origin = Path(environ[CONFIG_ENV]), f" (from {CONFIG_ENV})"
    else:
        return DEFAULT_PATH if DEFAULT_PATH.is_file() else None
    named = named.expanduser()
    if not named.is_file():
        reason = "is not a file" if named.exists() else "does not exist"
        raise ConfigError([(str(named), f"configuration file {reason}{origin}")])
    return named


_UNKNOWN_KEY = ("extra_forbidden", "unexpected_keyword_argument")
_MESSAGES = {
    **dict.fromkeys(_UNKNOWN_KEY, "unknown key"),
    "missing": "required",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "dataclass_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
}


def _schema_problems(exc: pydantic.ValidationError, origins: dict[Loc, str]) -> list[Problem]:
    problems: list[Problem] = []
    for error in exc.errors(include_input=False, include_url=False):
        loc: Loc = tuple(error["loc"])
        message = _MESSAGES.get(error["type"]) or _strip_prefix(error["msg"])
        if error["type"] in _UNKNOWN_KEY:
            message += _suggestion(loc)
        origin = next((name for at, name in origins.items() if loc[: len(at)] == at), None)
        if origin:
            message += f" (from environment variable {origin})"
        problems.append((loc, message))
    return problems


def _strip_prefix(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _suggestion(loc: Loc) -> str:
    parent: Any = schema.ConfigModel
    for key in loc[:-1]:
        parent = schema.child_type(parent, key)
    close = difflib.get_close_matches(str(loc[-1]), schema.field_names(parent), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _under(loc: Loc, roots: list[Loc]) -> bool:
    """Whether `loc` is at or below one of `roots` (already reported there)."""
    return any(loc[: len(root)] == root for root in roots)
