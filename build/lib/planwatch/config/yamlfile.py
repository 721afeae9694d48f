"""Reading planwatch.yaml: safe YAML without the YAML 1.1 traps a config file falls into.

- `at: 2:30` stays the string "2:30" (YAML 1.1 would read the base-60 integer 150);
- a key given twice is an error instead of the last one silently winning (`<<: *anchor`
  merges still work, and top-level `x-...` keys are free for anchors, as in compose files);
- syntax errors report line and column but never the offending line itself, which could
  hold a password.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from planwatch.errors import ConfigError

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """SafeLoader minus sexagesimal numbers, plus duplicate-key detection."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:  # `<<: *anchor` may be overridden by own keys
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _INT,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def read(path: Path) -> dict[str, Any]:
    """The mapping in the YAML file at `path` (an empty file is an empty mapping)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError([(str(path), f"cannot read the configuration file: {reason}")]) from None
    return parse(text, source=str(path))


def parse(text: str, *, source: str = "<config>") -> dict[str, Any]:
    """The mapping in YAML `text`; `ConfigError` with `source:line:column` when it is not one."""
    try:
        data = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_problem(exc, source)]) from None
    except yaml.YAMLError:
        raise ConfigError([(source, "invalid YAML")]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([(source, "the configuration must be a mapping of sections")])
    return {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}


def parse_scalar(text: str) -> Any:
    """An environment variable's value read as YAML: `9090` -> 9090, `true` -> True,
    `[a, b]` -> a list. Anything that does not read cleanly stays the raw string."""
    try:
        value = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        return text
    if isinstance(value, dict) and not text.lstrip().startswith("{"):
        return text
    if isinstance(value, list) and not text.lstrip().startswith("["):
        return text
    return value


def _syntax_problem(exc: yaml.MarkedYAMLError, source: str) -> tuple[str, str]:
    mark = exc.problem_mark or exc.context_mark
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
    message = exc.problem or exc.context or "invalid YAML"
    if "tag" in message:
        message += " (quote values that start with ! & * > | % or @)"
    return where, f"YAML syntax error: {message}"
