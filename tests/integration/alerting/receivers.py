"""Real local receivers for notification tests: an HTTP webhook server and an SMTP server."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WebhookReceiver:
    """Records JSON POSTs; `status` is what it answers; `stop()`/`start()` take it down/up.

    `keys` has the Idempotency-Key header of every request (accepted or not); while `hold` is
    set, a request waits for `release` before it is answered (a receiver that hangs); a body
    over `max_bytes` gets 413.
    """

    port: int = field(default_factory=free_port)
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)
    hits: int = 0  # every request, accepted or not
    keys: list[str] = field(default_factory=list)
    hold: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    max_bytes: int | None = None
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.hits += 1
                receiver.keys.append(self.headers.get("Idempotency-Key", ""))
                if receiver.hold:
                    receiver.release.wait(120)
                status = receiver.status
                if receiver.max_bytes is not None and len(body) > receiver.max_bytes:
                    status = 413
                if status == 200:
                    receiver.received.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        deadline = time.monotonic() + 10
        while True:
            try:
                self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.release.set()  # never leave a held request behind
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


class _Handler:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(content)))
        return "250 OK"


class SmtpReceiver:
    """aiosmtpd on a free local port; `messages` holds (recipients, parsed message)."""

    def __init__(self) -> None:
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # per-connection chatter
        self.port = free_port()
        self._handler = _Handler()
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[tuple[list[str], Message]]:
        return self._handler.messages

    def url(self, to: str = "dba@example.com") -> str:
        return (f"mailto://127.0.0.1:{self.port}?from=planwatch@example.com&to={to}"
                "&mode=insecure")

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


def body_text(msg: Message) -> str:
    """The text/plain part (or the whole payload) of an email, decoded."""
    parts = msg.walk() if msg.is_multipart() else iter([msg])
    for part in parts:
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            return payload.decode() if isinstance(payload, bytes) else str(payload)
    return ""
