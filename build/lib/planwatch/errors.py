"""The error hierarchy: one base whose docstring is the default message, leaves carry data."""

from __future__ import annotations


class PlanwatchError(Exception):
    """planwatch failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigError(PlanwatchError):
    """The configuration is invalid."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {loc or '<root>'}: {msg}" for loc, msg in problems)
        super().__init__(f"invalid configuration ({len(problems)} problem(s)):\n{lines}")


class SecretError(PlanwatchError):
    """A secret could not be decrypted (wrong or missing key)."""


class StorageError(PlanwatchError):
    """The storage database is unavailable or failed."""


class StorageConflict(StorageError):
    """A row with the same natural key already exists (e.g. a second active alert)."""


class StorageLockedError(StorageError):
    """Another worker already uses this SQLite storage; SQLite storage means one worker."""


class CollectorError(PlanwatchError):
    """A collector failed. `fatal` errors (bad setup) are not worth retrying soon."""

    def __init__(self, target: str, message: str, *, fatal: bool = False) -> None:
        self.target = target
        self.fatal = fatal
        super().__init__(f"{target}: {message}")


class TargetUnreachable(CollectorError):
    """The target database cannot be reached."""

    def __init__(self, target: str, message: str) -> None:
        super().__init__(target, message, fatal=False)


class CircuitOpen(CollectorError):
    """The target's circuit breaker is open; the call was not attempted."""

    def __init__(self, target: str, retry_in_s: float) -> None:
        self.retry_in_s = retry_in_s
        super().__init__(target, f"circuit open, next probe in {retry_in_s:.0f}s")


class NotFound(PlanwatchError, LookupError):
    """The requested object does not exist."""
