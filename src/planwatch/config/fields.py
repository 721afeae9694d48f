"""Reusable field types of the config schema and the parsers behind them.

`Duration`, `TimeOfDay`, `CronExpr`, `Threshold`, `Name`, `Engine` validate one value each
and raise `ValueError` with a message written for the person editing the YAML file.
`parse_threshold` is also what checks use to evaluate a threshold. `ValidatedAs`, `null_as`
and `NOT_IN_FILE` let one frozen settings class be both what the file is validated against
and what code reads (`dsn` is validated as text, code gets a `Secret`).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import field
from datetime import UTC, datetime, time, timedelta
from importlib import metadata
from typing import Annotated, Any, Literal

import sqlalchemy
import sqlalchemy.dialects
from croniter import croniter
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    create_model,
)
from pydantic_core import CoreSchema, PydanticKnownError, core_schema

from planwatch.config.durations import parse_duration, parse_time_of_day

SECTION = ConfigDict(extra="forbid")
"""pydantic config of every settings class: a key the class does not define is an error."""


@dataclasses.dataclass(frozen=True, slots=True)
class Secret:
    """A secret string whose repr/str never reveal it; call `.reveal()` at the point of use."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return "********"

    def __repr__(self) -> str:
        return "Secret('********')"


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("must not be negative")
    return value


def _cron(value: str) -> str:
    text = " ".join(value.split())
    fields_ok = text.startswith("@") or len(text.split()) == 5
    if not fields_ok or not croniter.is_valid(text):
        raise ValueError(
            f"invalid cron expression {value!r}; expected 5 fields "
            "'minute hour day-of-month month day-of-week' (e.g. '0 3 * * *') or @daily"
        )
    return text


OPERATORS = ("eq", "ne", "gt", "lt", "gte", "lte", "contains")
_SYMBOLS = {
    "==": "eq", "=": "eq", "!=": "ne", "<>": "ne",
    ">=": "gte", "<=": "lte", ">": "gt", "<": "lt",
}  # fmt: skip
_THRESHOLD = re.compile(r"\s*(==|=|!=|<>|>=|<=|>|<|[a-z]+)\s*(.*?)\s*", re.DOTALL)
ORDERED_OPERATORS = ("gt", "lt", "gte", "lte")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}")


def parse_threshold(text: str) -> tuple[str, float | str]:
    """`"> 1000"` -> `("gt", 1000.0)`, `"contains ERROR"` -> `("contains", "ERROR")`.

    The operator is one of `OPERATORS`; ordering operators need a number, `eq`/`ne` compare
    numbers when the value is numeric and text otherwise.
    """
    match = _THRESHOLD.fullmatch(text)
    op = match and _SYMBOLS.get(match.group(1), match.group(1))
    if not match or op not in OPERATORS or not match.group(2):
        raise ValueError(
            f"invalid threshold {text!r}; expected '<operator> <value>' with operator one of "
            "> >= < <= == != contains (e.g. '> 1000')"
        )
    raw = match.group(2)
    if op == "contains":
        return op, raw
    try:
        return op, float(raw)
    except ValueError:
        if op in ORDERED_OPERATORS:
            raise ValueError(f"invalid threshold {text!r}: {op} needs a number") from None
        return op, raw.strip("'\"")


def _threshold(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError('a threshold is a quoted string such as "> 1000"')
    parse_threshold(value)
    return value.strip()


def _engine(value: str) -> str:
    engine = ENGINE_ALIASES.get(value.strip().lower(), value.strip().lower())
    if not re.fullmatch(r"[a-z][a-z0-9_]*", engine):
        raise ValueError(f"invalid engine {value!r}; expected e.g. postgresql, mysql, sqlite")
    if engine not in known_engines():
        raise ValueError(f"unknown engine {value!r}{_did_you_mean(engine)} {_known_list()}")
    return engine


@functools.cache
def known_engines() -> frozenset[str]:
    """planwatch's engines, their aliases and every installed SQLAlchemy dialect (built in, or
    registered by a package through the `sqlalchemy.dialects` entry point)."""
    plugins = {e.name.split(".")[0] for e in metadata.entry_points(group="sqlalchemy.dialects")}
    return frozenset({*ENGINES, *ENGINE_ALIASES, *sqlalchemy.dialects.__all__, *plugins})


def _did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name, sorted(known_engines()), n=1, cutoff=0.6)
    return f"; did you mean {ENGINE_ALIASES.get(close[0], close[0])!r}?" if close else ""


def _known_list() -> str:
    return "(known: " + ", ".join(sorted(known_engines() - set(ENGINE_ALIASES))) + ")"


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9_]*)(?:\+([A-Za-z0-9_]+))?://")


def _dsn(value: str) -> str:
    """A URL-form DSN must name a known engine; a SQLAlchemy-only dialect (checks only) must
    also have the named driver module. Messages name the scheme only, never the DSN."""
    match = _SCHEME.match(value)
    if not match:
        return value  # libpq key=value, or no scheme at all
    backend = match.group(1).lower()
    if ENGINE_ALIASES.get(backend, backend) not in known_engines():
        scheme = match.group(0)[:-3]
        raise ValueError(f"unknown scheme {scheme!r} in the dsn{_did_you_mean(backend)} "
                         f"{_known_list()}")
    if backend not in (*ENGINES, *ENGINE_ALIASES) and match.group(2):
        try:
            sqlalchemy.make_url(value).get_dialect()
        except Exception:  # NoSuchModuleError, or an import error inside a plugin
            raise ValueError(f"no installed SQLAlchemy dialect for "
                             f"{match.group(0)[:-3]!r} in the dsn") from None
    return value


def _storage_url(value: str) -> str:
    """The storage URL must be one SQLAlchemy can open (dialect and driver module known)."""
    try:
        url = sqlalchemy.make_url(value)
    except sqlalchemy.exc.ArgumentError:
        raise ValueError("not a SQLAlchemy URL (e.g. sqlite:///planwatch.db or "
                         "postgresql+psycopg://user@host/planwatch)") from None
    try:
        url.get_dialect()
    except Exception:  # NoSuchModuleError, or an import error inside a plugin
        raise ValueError(f"no installed SQLAlchemy dialect for {url.drivername!r}; "
                         "use sqlite:/// or postgresql+psycopg://") from None
    return value


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"invalid name {value!r}; use 1-100 letters, digits, '_', '-', '.' or ':', "
            "starting with a letter or digit"
        )
    return value


def empty_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _count_or_auto(given: object) -> int | str:
    value = lower(given)
    if isinstance(value, str) and value.isdigit():
        value = int(value)  # from an environment variable
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise ValueError(f"expected a whole number of at least 1 or 'auto', not {given!r}")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Duration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]
DurationOrZero = Annotated[
    timedelta, BeforeValidator(parse_duration), AfterValidator(_not_negative)
]
TimeOfDay = Annotated[time, BeforeValidator(parse_time_of_day)]
CronExpr = Annotated[str, AfterValidator(_cron)]
Threshold = Annotated[str, BeforeValidator(_threshold)]
Name = Annotated[str, AfterValidator(_name)]
Tag = Annotated[str, Field(min_length=1, max_length=100)]
NonEmpty = Annotated[str, Field(min_length=1)]
Dsn = Annotated[str, Field(min_length=1), AfterValidator(_dsn)]
StorageUrl = Annotated[str, Field(min_length=1), AfterValidator(_storage_url)]
_OptionalText = Annotated[NonEmpty | None, BeforeValidator(empty_to_none)]
Engine = Annotated[str, AfterValidator(_engine)]
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
PositiveInt = Annotated[int, Field(ge=1)]
CountOrAuto = Annotated[int | Literal["auto"], BeforeValidator(_count_or_auto)]

ENGINES = ("postgresql", "mysql", "mariadb", "sqlserver", "sqlite")
ENGINE_ALIASES = {"postgres": "postgresql", "pg": "postgresql", "mssql": "sqlserver"}
ALERT_KINDS = Literal["regression", "hotspot", "check", "health"]


def exactly_one_of(values: Mapping[str, Any], names: tuple[str, ...], *, required: bool) -> None:
    """Raise if more than one (or, if `required`, none) of `names` is set in `values`."""
    given = [n for n in names if values.get(n) not in (None, [], ())]
    if len(given) > 1 or (required and not given):
        listing = ", ".join(f"'{n}'" for n in names)
        verb = "exactly one" if required else "only one"
        found = f" (found {', '.join(given)})" if given else ""
        raise ValueError(f"give {verb} of {listing}{found}")


def infer_engine(dsn: str) -> str:
    """The engine named by a DSN's URL scheme; libpq `key=value` strings are PostgreSQL."""
    scheme = _SCHEME.match(dsn)
    if scheme:
        return _engine(scheme.group(1))
    if "=" in dsn:
        return "postgresql"
    raise ValueError("cannot infer 'engine' from the dsn; set engine: postgresql, mysql, ...")


@dataclasses.dataclass(frozen=True, slots=True)
class ValidatedAs:
    """Field metadata: validate the file's value as `source` (its rules, its messages), then
    turn the result into the field's own type with `build` (a DSN becomes a `Secret`)."""

    source: Any
    build: Callable[[Any], Any]

    def __get_pydantic_core_schema__(self, _: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        schema = handler.generate_schema(self.source)
        return core_schema.no_info_after_validator_function(self.build, schema)


class _NotInFile:
    """Field metadata: a value code sets; in planwatch.yaml the key is unknown."""

    def __get_pydantic_core_schema__(self, _: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(_unknown_key)


def _unknown_key(_: object) -> None:
    raise PydanticKnownError("extra_forbidden")


NOT_IN_FILE = _NotInFile()


def plain_section(cls: type[Any], check: Callable[[Any], None] | None = None,
                  **rules: Any) -> ValidatedAs:
    """Field metadata for a plain frozen dataclass owned outside `config/` (the analysis
    policies): the file is validated with one type per field from `rules` and with `check`;
    the defaults stay the class's own."""
    if set(rules) != {f.name for f in dataclasses.fields(cls)}:
        raise TypeError(f"the rules for {cls.__name__} must name each of its fields")
    fields: dict[str, Any] = {f.name: (rules[f.name], f.default) for f in dataclasses.fields(cls)}
    model = create_model(cls.__name__, __config__=ConfigDict(extra="forbid", frozen=True),
                         **fields)

    def build(validated: BaseModel) -> Any:
        section = cls(**dict(validated))
        if check:
            check(section)
        return section

    return ValidatedAs(model, build)


def null_as(empty: object) -> WrapValidator:
    """Field metadata: `null` in the file means `empty` (not given) rather than a type error."""

    def validate(value: object, handler: ValidatorFunctionWrapHandler) -> object:
        return empty if value is None else handler(value)

    return WrapValidator(validate)


def _secret_or_none(value: str | None) -> Secret | None:
    return Secret(value) if value else None


SecretText = Annotated[Secret, ValidatedAs(NonEmpty, Secret)]
SecretDsn = Annotated[Secret, ValidatedAs(Dsn, Secret)]
OptionalSecret = Annotated[Secret | None, ValidatedAs(_OptionalText, _secret_or_none)]
"""An optional secret: an empty value (e.g. `${TOKEN:-}`) means not set."""
