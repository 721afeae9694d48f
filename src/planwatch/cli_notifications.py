"""`planwatch notifications`: list messages (`--failed`: the given-up ones), resend one by id."""

from __future__ import annotations

import argparse
import getpass
import json
from collections.abc import Callable
from typing import Any

from planwatch import render
from planwatch.clock import utcnow
from planwatch.errors import PlanwatchError
from planwatch.model.alerts import NotificationStatus

HELP = "list notifications (--failed: given up), or resend one by id"
STATUSES = tuple(s.value for s in NotificationStatus)


def register(add: Callable[..., Any], open_storage: Callable[[argparse.Namespace], Any]) -> None:
    """Add the command to the parser (`add` is cli.build_parser's helper)."""
    def run(args: argparse.Namespace) -> int:
        return command(args, open_storage(args))

    p = add("notifications", run, HELP)
    p.add_argument("action", nargs="?", choices=["list", "resend"], default="list",
                   help="list (default), or resend ID")
    p.add_argument("id", nargs="?", type=int, help="resend: the notification's id")
    p.add_argument("--failed", action="store_true",
                   help="only notifications given up (after 24 h of failed attempts)")
    p.add_argument("--status", choices=STATUSES, help="only this status")
    p.add_argument("--channel", help="only this channel")
    p.add_argument("--limit", type=int, default=50, help="at most this many, newest first [50]")
    p.add_argument("--json", action="store_true", help="stable JSON output (docs/alerting.md)")


def command(args: argparse.Namespace, st: Any) -> int:
    from planwatch.alerting import notifications

    if args.action == "resend":
        if args.id is None:
            raise PlanwatchError("usage: planwatch notifications resend ID")
        n = notifications.resend(st, args.id, actor=f"cli:{getpass.getuser()}", now=utcnow())
        print(f"notification {n.id} to {n.channel} is pending again; the worker sends it "
              f"with the same key ({n.key})")
        return 0
    status = "failed" if args.failed else args.status
    rows = notifications.listing(st, status=status, channel=args.channel, limit=args.limit)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(render.notifications_table(rows))
    return 0
