"""Objects finalized with an error, mostly ResourceWarnings of a socket, file or connection
dropped without close(): listed at the end of the run ("leaked resources"), never failing a
test (when the garbage collector finds them is chance).

pytest's own unraisableexception plugin is off (pyproject.toml addopts): on Python 3.11 it
formats a traceback inside sys.unraisablehook, and `traceback` calls `ast.parse` for its carets,
which re-enters CPython's AST constructor when the collector ran during another `ast.parse`
(hypothesis): "SystemError: AST constructor recursion depth mismatch" (gh-106905). This hook
formats no traceback; with `python -X tracemalloc=20` it adds where the object was allocated.
Under xdist each leak travels in the report of the test phase during which it was found.
"""

from __future__ import annotations

import sys
import tracemalloc
from typing import Any

import pytest

SECTION = "leaked resources"
_pending: list[str] = []
_found: list[tuple[str, str]] = []  # (test id, what), in the process that writes the summary
_previous: list[Any] = []


def _hook(unraisable: Any) -> None:
    try:
        text = f"{getattr(unraisable.exc_type, '__name__', '?')}: {unraisable.exc_value}"
        where = repr(unraisable.object)
        if where not in text:  # a ResourceWarning names its object already
            text += f" ({unraisable.err_msg or 'Exception ignored in'}: {where})"
        made = tracemalloc.get_object_traceback(unraisable.object)
        if made is not None:
            text += "\n  allocated at:\n" + "\n".join(made.format())
    except Exception as exc:  # never let the hook itself raise
        text = f"unraisable exception (not describable: {exc!r})"
    _pending.append(text)


def pytest_configure(config: pytest.Config) -> None:
    _previous.append(sys.unraisablehook)
    sys.unraisablehook = _hook


def pytest_unconfigure(config: pytest.Config) -> None:
    if _previous:
        sys.unraisablehook = _previous.pop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if _pending:
        report.sections.append((SECTION, "\n".join(_pending)))
        _pending.clear()
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _found.extend((report.nodeid, text) for name, text in report.sections if name == SECTION)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _pending:  # found after the last test of this process
        _found.extend(("(after the tests)", text) for text in _pending)
    if not _found:
        return
    terminalreporter.write_sep("=", f"{SECTION}: {len(_found)} (see tests/leak_report.py)",
                               yellow=True)
    for nodeid, text in _found:
        terminalreporter.write_line(f"found during {nodeid}:\n  {text}")
