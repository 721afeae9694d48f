"""`planwatch` command line: parse -> delegate -> print. Exit 2 on invalid config, 1 on errors."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from planwatch import __version__, cli_notifications, logs, render, views
from planwatch.clock import utcnow
from planwatch.config import loader
from planwatch.config import secrets as secret_box
from planwatch.config.settings import Settings
from planwatch.errors import ConfigError, PlanwatchError
from planwatch.model.jobs import ResultStatus

EPILOG = ("Configuration: -c PATH, else $PLANWATCH_CONFIG, else ./planwatch.yaml, else defaults. "
          "Exit codes: 0 ok, 1 error, 2 invalid configuration. Details: docs/cli.md")


def _settings(args: argparse.Namespace) -> Settings:
    settings = loader.load(args.config)
    logs.configure(args.log_level or settings.logging.level, settings.logging.format)
    return settings


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def cmd_check_config(args: argparse.Namespace) -> int:
    s = _settings(args)
    print(f"configuration OK: {len(s.targets)} target(s), {len(s.checks)} check(s), "
          f"storage {render.safe_url(s.storage_url.reveal())}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from planwatch.app import open_storage

    storage = open_storage(_settings(args))
    print(f"storage {storage.url_safe} is at the current schema")
    storage.close()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from planwatch import daemon

    return daemon.main(_settings(args), args.config)


def cmd_reload(args: argparse.Namespace) -> int:
    from planwatch import daemon
    from planwatch.app import open_storage

    storage = open_storage(_settings(args))  # an invalid config stops here (exit 2)
    try:
        lines = daemon.signal_local_workers(storage)
    finally:
        storage.close()
    for line in lines:
        print(line)
    if not any(line.startswith("sent ") for line in lines):
        raise PlanwatchError(f"no running worker of storage {storage.url_safe} on this host")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from planwatch import demo

    logs.configure(args.log_level or "warning", None)
    return demo.main(serve_seconds=args.serve, port=args.port)


def _once(args: argparse.Namespace, names: Callable[[Settings], list[str]]) -> int:
    from planwatch import daemon

    settings = _settings(args)
    outcomes = asyncio.run(daemon.run_once(settings, names(settings), pause=args.pause))
    failed = 0
    for name, outcome in outcomes:
        if isinstance(outcome, BaseException):
            failed += 1
            print(f"{name}: FAILED: {outcome}")
        else:
            failed += outcome.result_status is ResultStatus.ERROR
            print(f"{name}: {outcome.result_status.value}: {outcome.message}")
    return 1 if failed else 0


def cmd_collect(args: argparse.Namespace) -> int:
    def names(s: Settings) -> list[str]:
        chosen = [t.name for t in s.targets if t.enabled and args.target in (None, t.name)]
        if not chosen:
            raise PlanwatchError(f"no enabled target named {args.target!r}")
        return [f"collection:{n}" for n in chosen]

    return _once(args, names)


def cmd_analyze(args: argparse.Namespace) -> int:
    jobs = ["baseline_rebuild"] if args.rebuild_baselines else []
    return _once(args, lambda s: [*jobs, "analysis"])


def _open(args: argparse.Namespace) -> Any:
    from planwatch.app import open_storage

    return open_storage(_settings(args))


def cmd_alerts(args: argparse.Namespace) -> int:
    from planwatch.alerting import actions
    from planwatch.storage import alerts

    st = _open(args)
    if args.action in ("ack", "resolve"):
        if args.id is None:
            raise PlanwatchError(f"usage: planwatch alerts {args.action} ID [--comment TEXT]")
        changed = actions.acknowledge if args.action == "ack" else actions.resolve
        a = changed(st, args.id, actor=f"cli:{getpass.getuser()}", comment=args.comment or "")
        print(f"alert {a.id} is now {a.status.value}")
        return 0
    found = alerts.list_alerts(st, status=args.status, limit=args.limit)
    if args.json:
        _print_json([views.alert(a) for a in found])
    else:
        print(render.alerts_table(found))
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from planwatch.alerting import commands, summary

    settings = _settings(args)
    st = _open(args)
    if args.print:
        print(summary.render_text(summary.collect(st, settings, utcnow())), end="")
        return 0
    results = commands.send_summary(st, settings, utcnow())
    if not results:
        print("no channels configured (alerting.channels); use --print to see the summary")
    for name, error in results.items():
        print(f"{name}: {'sent' if error is None else 'FAILED: ' + error}")
    return 1 if any(results.values()) else 0


def cmd_silences(args: argparse.Namespace) -> int:
    from planwatch.alerting import commands
    from planwatch.storage import silences

    settings, now = _settings(args), utcnow()
    st = _open(args)
    if args.action == "add":
        s = commands.add_silence(
            st, args.matchers, duration=args.duration, starts_at=args.starts_at,
            comment=args.comment or "", actor=f"cli:{getpass.getuser()}", now=now,
        )
        print(f"silence {s.id} active until {s.ends_at:%Y-%m-%d %H:%M} UTC")
    elif args.action == "expire":
        if len(args.matchers) != 1 or not args.matchers[0].isdigit():
            raise PlanwatchError("usage: planwatch silences expire ID")
        s = silences.expire(st, int(args.matchers[0]), now=now)
        print(f"silence {s.id} ended at {s.ends_at:%Y-%m-%d %H:%M:%S} UTC")
    else:
        rows = commands.silence_rows(st, settings, now, every=args.all)
        if args.json:
            _print_json([commands.silence_json(r, now) for r in rows])
        else:
            print(commands.silences_table(rows, now))
    return 0


def cmd_queries(args: argparse.Namespace) -> int:
    from planwatch.storage import queries

    st = _open(args)
    now = utcnow()
    top = queries.top(st, target=args.target, since=now - args.since, until=now, limit=args.limit)
    if args.json:
        _print_json([views.query(q) for q in top])
    else:
        print(render.queries_table(top))
    return 0


def cmd_checks(args: argparse.Namespace) -> int:
    from planwatch.app import open_storage
    from planwatch.checks import plan
    from planwatch.storage import check_results

    settings = _settings(args)
    st = open_storage(settings)
    found = {(c.check, c.target): c for c in check_results.summary(st, utcnow())}
    configured = [(t.name, t.target) for t in plan.tasks(settings.checks, settings.targets)]
    keys = configured + sorted(set(found) - set(configured))
    rows = [views.check_summary(found.get(k), *k) for k in keys]
    if args.json:
        _print_json(rows)
    else:
        print(render.checks_table(rows))
    return 0


def cmd_workers(args: argparse.Namespace) -> int:
    from planwatch.storage import workers

    found = workers.list_all(_open(args))
    if args.json:
        _print_json([views.worker(w) for w in found])
    else:
        print(render.workers_table(found))
    return 0


def cmd_secrets(args: argparse.Namespace) -> int:
    if args.secrets_cmd == "generate-key":
        print(secret_box.generate_key())
        return 0
    key = secret_box.load_key(dict(os.environ))
    if key is None:
        raise PlanwatchError("set PLANWATCH_SECRET_KEY or PLANWATCH_SECRET_KEY_FILE first "
                             "(create a key with: planwatch secrets generate-key)")
    plaintext = args.value if args.value is not None else sys.stdin.readline().rstrip("\n")
    print(secret_box.encrypt(plaintext, key))
    return 0


def _duration(text: str) -> timedelta:
    from planwatch.config.durations import parse_duration

    return parse_duration(text)


def _utc_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 date and time: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="planwatch", epilog=EPILOG,
        description="Watch databases for query performance regressions and plan changes.",
    )
    p.add_argument("--version", action="version", version=f"planwatch {__version__}")
    p.add_argument("-c", "--config", help="path of the YAML configuration file")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_: str) -> Any:
        sp = sub.add_parser(name, help=help_, description=help_, epilog=EPILOG)
        sp.set_defaults(func=fn)
        return sp

    add("run", cmd_run, "run the worker: scheduler, jobs and HTTP server, until SIGTERM/SIGINT")
    d = add("demo", cmd_demo, "start a throwaway PostgreSQL, break a query's plan, detect it")
    d.add_argument("--serve", type=int, default=0, metavar="SECONDS",
                   help="keep serving /health and /metrics this long after detection")
    d.add_argument("--port", type=int, default=0, help="HTTP port (default: a free port)")
    add("migrate", cmd_migrate, "create or upgrade the storage schema")
    add("reload", cmd_reload, "validate the configuration, then make the running worker(s) of "
        "this storage on this host re-read it (SIGHUP)")
    add("check-config", cmd_check_config, "validate the configuration and report every problem")
    c = add("collect", cmd_collect, "collect statistics now (two polls --pause apart)")
    c.add_argument("--once", action="store_true", required=True, help="run once and exit")
    c.add_argument("--target", help="only this target")
    c.add_argument("--pause", type=_duration, default=timedelta(seconds=10),
                   help="time between the two polls that make one interval [10s]")
    a = add("analyze", cmd_analyze, "run regression analysis now")
    a.add_argument("--once", action="store_true", required=True, help="run once and exit")
    a.add_argument("--rebuild-baselines", action="store_true",
                   help="rebuild baselines before analysing")
    a.set_defaults(pause=timedelta(0))
    al = add("alerts", cmd_alerts, "list alerts, or acknowledge / resolve one by id")
    al.add_argument("action", nargs="?", choices=["list", "ack", "resolve"], default="list",
                    help="list (default), ack ID or resolve ID")
    al.add_argument("id", nargs="?", type=int, help="alert id for ack/resolve")
    al.add_argument("--comment", help="comment recorded in the alert's audit trail")
    al.add_argument("--status", default="open",
                    choices=["open", "all", "pending", "acknowledged", "resolved"],
                    help="which alerts to list [open: pending, open and acknowledged]")
    al.add_argument("--limit", type=int, default=200, help="at most this many, newest first [200]")
    al.add_argument("--json", action="store_true", help="stable JSON output (docs/cli.md)")
    sm = add("summary", cmd_summary, "send the daily summary to every channel now")
    sm.add_argument("--print", action="store_true",
                    help="print the summary's text here instead of sending it")
    si = add("silences", cmd_silences, "list, add or expire silences (maintenance windows)")
    si.add_argument("action", nargs="?", choices=["list", "add", "expire"], default="list",
                    help="list (default), add KEY=GLOB..., or expire ID")
    si.add_argument("matchers", nargs="*", metavar="KEY=GLOB|ID",
                    help="add: matchers such as target=orders-* kind=regression; expire: the id")
    si.add_argument("--duration", type=_duration, default=timedelta(hours=2),
                    help="add: how long the silence lasts [2h]")
    si.add_argument("--starts-at", type=_utc_datetime, help="add: start (ISO-8601, UTC) [now]")
    si.add_argument("--comment", help="add: why (shown in the audit trail)")
    si.add_argument("--all", action="store_true", help="list: include ended silences")
    si.add_argument("--json", action="store_true", help="list: JSON output")
    q = add("queries", cmd_queries, "top queries by total time, with plan changes")
    q.add_argument("--target", help="only this target")
    q.add_argument("--since", type=_duration, default=timedelta(hours=24),
                   help="look back this far [24h]")
    q.add_argument("--limit", type=int, default=25, help="at most this many [25]")
    q.add_argument("--json", action="store_true", help="stable JSON output (docs/cli.md)")
    ch = add("checks", cmd_checks, "SQL and endpoint checks: last status, 7-day success rate")
    ch.add_argument("--json", action="store_true", help="stable JSON output (docs/checks.md)")
    cli_notifications.register(add, _open)
    w = add("workers", cmd_workers, "list workers and their heartbeats")
    w.add_argument("--json", action="store_true", help="stable JSON output (docs/cli.md)")
    s = add("secrets", cmd_secrets, "encrypt a secret for the config (enc:...)")
    s.add_argument("secrets_cmd", choices=["encrypt", "generate-key"],
                   help="encrypt a value, or print a new key for PLANWATCH_SECRET_KEY")
    s.add_argument("value", nargs="?", help="plaintext (default: read one line from stdin)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"planwatch: {exc}", file=sys.stderr)
        return 2
    except PlanwatchError as exc:
        print(f"planwatch: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
