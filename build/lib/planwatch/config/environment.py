"""What the environment does to the raw config tree before validation.

Three passes, each returning a new tree plus problems located in the tree:
`apply_overrides` (PLANWATCH_SECTION__KEY=value), `interpolate` (${VAR}, ${VAR:-default})
and `decrypt` (enc:<fernet token>). Problem messages never contain values.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Callable, Mapping
from typing import Any

from planwatch.config import schema, secrets, yamlfile
from planwatch.config.problems import Loc, Problem, format_loc
from planwatch.errors import SecretError

PREFIX = "PLANWATCH_"
RESERVED = frozenset(
    {
        "PLANWATCH_CONFIG",
        "PLANWATCH_SECRET_KEY",
        "PLANWATCH_SECRET_KEY_FILE",
        "PLANWATCH_PG_BINDIR",
        "PLANWATCH_MARIADB_BINDIR",
        "PLANWATCH_LOG_LEVEL",
    }
)
"""PLANWATCH_* variables that are not config paths (tool locations, the key, ...)."""


def apply_overrides(
    raw: dict[str, Any], environ: Mapping[str, str]
) -> tuple[dict[str, Any], dict[Loc, str], list[Problem]]:
    """`raw` with PLANWATCH_* variables applied; also where each one landed, and problems.

    `PLANWATCH_HTTP__PORT=9090` sets `http.port`; `PLANWATCH_TARGETS__0__DSN` sets
    `targets[0].dsn` (index == length appends a new item). Unknown paths are problems.
    """
    tree: dict[str, Any] = copy.deepcopy(raw)
    origins: dict[Loc, str] = {}
    problems: list[Problem] = []
    resolved: list[tuple[Loc, Any, str]] = []
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name in RESERVED:
            continue
        try:
            resolved.append((*_resolve(name.removeprefix(PREFIX).split("__")), name))
        except _UnknownPath as exc:
            problems.append((exc.loc, f"{exc.message} (from environment variable {name})"))
    for loc, field_type, name in sorted(resolved, key=lambda r: r[0]):
        value = environ[name] if field_type is str else yamlfile.parse_scalar(environ[name])
        error = _set(tree, loc, value)
        if error:
            problems.append((loc, f"{error} (from environment variable {name})"))
        else:
            origins[loc] = name
    return tree, origins, problems


class _UnknownPath(Exception):
    def __init__(self, loc: Loc, message: str) -> None:
        self.loc, self.message = loc, message


def _resolve(parts: list[str]) -> tuple[Loc, Any]:
    """The config location named by a variable's parts, and the schema type found there."""
    tp: Any = schema.ConfigModel
    loc: list[str | int] = []
    for part in parts:
        key: str | int = part.lower()
        if schema.is_list(tp):
            if not part.isdigit():
                raise _UnknownPath(tuple(loc), f"expected a list index, not {part!r}")
            key = int(part)
        child = schema.child_type(tp, key)
        if child is None:
            close = difflib.get_close_matches(str(key), schema.field_names(tp), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise _UnknownPath((*loc, key), f"unknown key{hint}")
        loc.append(key)
        tp = child
    return tuple(loc), tp


def _set(tree: dict[str, Any], loc: Loc, value: Any) -> str | None:
    node: Any = tree
    for depth, key in enumerate(loc):
        last = depth == len(loc) - 1
        empty: Any = None if last else ([] if isinstance(loc[depth + 1], int) else {})
        if isinstance(key, int):
            if key > len(node):
                where = format_loc(loc[:depth])
                return f"index {key} is past the end of {where} ({len(node)} items)"
            if key == len(node):
                node.append(empty)
        elif key not in node:
            node[key] = empty
        if last:
            node[key] = value
        elif not isinstance(node[key], type(empty)):
            node[key] = empty
        node = node[key]
    return None


_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}|\$\{")


def interpolate(tree: Any, environ: Mapping[str, str]) -> tuple[Any, list[Problem]]:
    """`${VAR}` and `${VAR:-default}` replaced in every string; `$${` is a literal `${`."""
    problems: list[Problem] = []

    def expand(text: str, loc: Loc) -> str:
        if "${" not in text:
            return text

        def one(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if match.group(0) == "$${":
                return "${"
            if name is None:
                problems.append((loc, "malformed ${...} reference; use ${VAR} or ${VAR:-default}"))
            elif name in environ:
                return environ[name]
            elif default is not None:
                return default[2:]
            else:
                problems.append((loc, f"environment variable {name} is not set"))
            return ""

        return _REFERENCE.sub(one, text)

    return map_strings(tree, expand), problems


def decrypt(tree: Any, environ: Mapping[str, str]) -> tuple[Any, list[Problem]]:
    """Every `enc:<token>` value (or token embedded in a string, e.g. a DSN's password)
    replaced by its plaintext, with the key from PLANWATCH_SECRET_KEY(_FILE)."""
    problems: list[Problem] = []
    keys: list[bytes | None] = []

    def key() -> bytes:
        if not keys:
            keys.append(secrets.load_key(environ))
        if keys[0] is None:
            raise SecretError(
                f"value is encrypted but no key is set: set {secrets.KEY_ENV} "
                f"or {secrets.KEY_FILE_ENV}"
            )
        return keys[0]

    def reveal(text: str, loc: Loc) -> str:
        if "enc:" not in text:
            return text
        try:
            if text.startswith(secrets.PREFIX):
                return secrets.decrypt(text, key())
            return secrets.EMBEDDED_TOKEN.sub(lambda m: secrets.decrypt(m.group(1), key()), text)
        except SecretError as exc:
            problems.append((loc, str(exc)))
            return ""

    return map_strings(tree, reveal), problems


def map_strings(tree: Any, fn: Callable[[str, Loc], str], loc: Loc = ()) -> Any:
    """A copy of `tree` with `fn(string, location)` applied to every string value."""
    if isinstance(tree, dict):
        return {k: map_strings(v, fn, (*loc, str(k))) for k, v in tree.items()}
    if isinstance(tree, list):
        return [map_strings(v, fn, (*loc, i)) for i, v in enumerate(tree)]
    if isinstance(tree, str):
        return fn(tree, loc)
    return tree
