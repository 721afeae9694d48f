"""Signal handling for the daemon, as one small context manager.

SIGTERM / SIGINT ask for a graceful stop; a second one while stopping forces the exit.
SIGHUP asks for a configuration reload. Handlers are installed on the running event loop
and the previous handlers are restored on exit, so tests and embedding code are unharmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import structlog

log = structlog.stdlib.get_logger(__name__)

_Handler = Callable[[int, FrameType | None], Any] | int | None


class SignalRelay:
    """Turns received signals into calls of the daemon's callbacks."""

    def __init__(
        self,
        on_stop: Callable[[], None],
        on_reload: Callable[[], None] | None = None,
        on_force: Callable[[], None] | None = None,
    ) -> None:
        self.on_stop = on_stop
        self.on_reload = on_reload
        self.on_force = on_force
        self.stopping = False

    def __call__(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if signum == getattr(signal, "SIGHUP", None):
            log.info("signal.reload", signal=name)
            if self.on_reload is not None:
                self.on_reload()
            return
        if not self.stopping:
            self.stopping = True
            log.info("signal.stop", signal=name)
            self.on_stop()
            return
        log.warning("signal.force_exit", signal=name)
        if self.on_force is not None:
            self.on_force()
            return
        raise KeyboardInterrupt


@contextlib.contextmanager
def handle_signals(
    loop: asyncio.AbstractEventLoop,
    *,
    on_stop: Callable[[], None],
    on_reload: Callable[[], None] | None = None,
    on_force: Callable[[], None] | None = None,
) -> Iterator[SignalRelay]:
    """Route SIGTERM/SIGINT to `on_stop` (twice: `on_force`, default KeyboardInterrupt)
    and SIGHUP to `on_reload` while the block runs."""
    relay = SignalRelay(on_stop, on_reload, on_force)
    signals = [signal.SIGTERM, signal.SIGINT]
    if on_reload is not None and hasattr(signal, "SIGHUP"):
        signals.append(signal.SIGHUP)
    previous: dict[signal.Signals, _Handler] = {}
    try:
        for sig in signals:
            previous[sig] = signal.getsignal(sig)
            _install(loop, sig, relay)
        yield relay
    finally:
        for sig, handler in previous.items():
            _uninstall(loop, sig, handler)


def _install(loop: asyncio.AbstractEventLoop, sig: signal.Signals, relay: SignalRelay) -> None:
    try:
        loop.add_signal_handler(sig, relay, int(sig))
    except NotImplementedError:  # Windows event loops: fall back to a plain handler
        signal.signal(sig, lambda signum, _frame: loop.call_soon_threadsafe(relay, signum))


def _uninstall(loop: asyncio.AbstractEventLoop, sig: signal.Signals, handler: _Handler) -> None:
    with contextlib.suppress(NotImplementedError):
        loop.remove_signal_handler(sig)
    signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
