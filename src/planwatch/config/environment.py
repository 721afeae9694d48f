"""What the environment does to the raw config tree before validation.

Three passes, each returning a new tree plus problems located in the tree:
`apply_overrides` (PLANWATCH_SECTION__KEY=value, or _FILE=path), `interpolate` (${VAR},
${VAR:-default}, VAR_FILE) and `decrypt` (enc:<fernet token>). Problem messages never contain
values. Variables that name no setting are not problems: they are returned for one warning.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planwatch.config import schema, secrets, yamlfile
from planwatch.config.problems import Loc, Problem, format_loc
from planwatch.errors import SecretError

PREFIX = "PLANWATCH_"
FILE_SUFFIX = "_FILE"
RESERVED = frozenset(
    {
        "PLANWATCH_CONFIG",
        "PLANWATCH_SECRET_KEY",
        "PLANWATCH_SECRET_KEY_FILE",
        "PLANWATCH_PG_BINDIR",
        "PLANWATCH_MARIADB_BINDIR",
        "PLANWATCH_CHROMIUM",
    }
)
"""PLANWATCH_* variables that are not config paths (tool locations, the key, ...)."""


@dataclass(frozen=True, slots=True)
class Overrides:
    """What the environment did to the tree: where each variable landed, the problems of
    variables that name a setting, and the variables that name none (ignored, with a hint)."""

    tree: dict[str, Any]
    origins: dict[Loc, str]
    problems: list[Problem]
    ignored: list[str]


def apply_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> Overrides:
    """`raw` with PLANWATCH_* variables applied.

    `PLANWATCH_HTTP__PORT=9090` sets `http.port`; `PLANWATCH_TARGETS__0__DSN` sets
    `targets[0].dsn` (index == length appends a new item); `PLANWATCH_HTTP__TOKEN_FILE=/path`
    sets `http.token` to the file's content (Docker / Kubernetes secrets). A variable that names
    no setting (Kubernetes service links such as PLANWATCH_SERVICE_HOST, a typo) is ignored.
    """
    tree: dict[str, Any] = copy.deepcopy(raw)
    origins: dict[Loc, str] = {}
    problems: list[Problem] = []
    ignored: list[str] = []
    resolved: list[tuple[Loc, Any, str]] = []
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name in RESERVED:
            continue
        try:
            resolved.append((*_resolve(_parts(name)), name))
        except _UnknownPath as exc:
            ignored.append(name + exc.hint)
    for loc, field_type, name in sorted(resolved, key=lambda r: r[0]):
        try:
            text = _value_of(name, environ)
        except _Unreadable as exc:
            problems.append((loc, str(exc)))
            continue
        value = text if field_type is str else yamlfile.parse_scalar(text)
        error = _set(tree, loc, value)
        if error:
            problems.append((loc, f"{error} (from environment variable {name})"))
        else:
            origins[loc] = name
    return Overrides(tree, origins, problems, ignored)


def _parts(name: str) -> list[str]:
    """The config path parts a variable names (a `_FILE` suffix names the same path)."""
    return name.removeprefix(PREFIX).removesuffix(FILE_SUFFIX).split("__")


class _Unreadable(Exception):
    pass


def _value_of(name: str, environ: Mapping[str, str]) -> str:
    """The variable's value, or for `X_FILE` the named file's content (final newline
    dropped). Errors name the variable and the file, never a value."""
    plain = name.removesuffix(FILE_SUFFIX)
    if plain in environ and plain + FILE_SUFFIX in environ:
        raise _Unreadable(f"set {plain} or {plain}{FILE_SUFFIX}, not both")
    return environ[name] if name == plain else read_file_variable(name, environ[name])


def read_file_variable(name: str, path: str) -> str:
    """The content of the file a `*_FILE` variable names, without its final line break."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise _Unreadable(f"cannot read {path} (from environment variable {name}): "
                          f"{reason}") from None
    return text.removesuffix("\n").removesuffix("\r")


class _UnknownPath(Exception):
    def __init__(self, hint: str) -> None:
        self.hint = hint


def _resolve(parts: list[str]) -> tuple[Loc, Any]:
    """The config location named by a variable's parts, and the schema type found there."""
    tp: Any = schema.ConfigModel
    loc: list[str | int] = []
    for depth, part in enumerate(parts):
        key: str | int = part.lower()
        if schema.is_list(tp):
            if not part.isdigit():
                raise _UnknownPath("")
            key = int(part)
        child = schema.child_type(tp, key)
        if child is None:
            close = difflib.get_close_matches(str(key), schema.field_names(tp), n=1)
            hint = "__".join([*parts[:depth], close[0].upper()]) if close else ""
            raise _UnknownPath(f" (did you mean {PREFIX}{hint}?)" if hint else "")
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
    """`${VAR}` and `${VAR:-default}` replaced in every string; `$${` is a literal `${`.
    When VAR is not set but VAR_FILE is, the content of that file is used (secrets mounted
    as files)."""
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
            elif name + FILE_SUFFIX in environ:
                try:
                    return read_file_variable(name + FILE_SUFFIX, environ[name + FILE_SUFFIX])
                except _Unreadable as exc:
                    problems.append((loc, str(exc)))
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
