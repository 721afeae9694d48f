"""sd_notify for `Type=notify` units: READY=1, WATCHDOG=1, STOPPING=1 over $NOTIFY_SOCKET.

The protocol is one datagram on a unix socket, so it is written out here: the `sdnotify`
package has had no release since 2017 and `systemd-python` needs libsystemd headers to build.
Outside systemd (no NOTIFY_SOCKET) every call does nothing.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from datetime import timedelta

import structlog

log = structlog.get_logger(__name__)


class Notifier:
    """Sends state changes to the service manager named by `NOTIFY_SOCKET`, if any."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_interval = _watchdog(env)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send `KEY=value` lines as one datagram; False (logged once per call) on failure."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.setblocking(False)  # a reader that fell behind must not stall our event loop
                s.connect(self.address)
                s.sendall("\n".join(fields).encode())
        except OSError as exc:
            log.warning("systemd.notify_failed", error=str(exc), message=fields[0])
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", f"STATUS={status or 'running'}", f"MAINPID={os.getpid()}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1", "STATUS=stopping")


def _address(value: str) -> str | None:
    """A filesystem path, or `@name` for the abstract namespace (a leading NUL byte)."""
    if not value or not (value.startswith("/") or value.startswith("@")):
        return None
    return "\0" + value[1:] if value.startswith("@") else value


def _watchdog(env: Mapping[str, str]) -> timedelta | None:
    """Half of WatchdogSec (systemd's advice), when the watchdog is meant for this process."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return timedelta(microseconds=int(usec) / 2)
