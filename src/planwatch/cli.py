"""`planwatch` command line: parse -> delegate -> print.

Exit codes: 0 ok, 1 error, 2 invalid configuration, 64 usage error (EX_USAGE: a typo on the
command line is not a bad configuration), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

import structlog

from planwatch import __version__, cli_notifications, logs, render, views
from planwatch.clock import utcnow
from planwatch.config import loader
from planwatch.config import secrets as secret_box
from planwatch.config.settings import Settings
from planwatch.errors import ConfigError, PlanwatchError
from planwatch.model.jobs import ResultStatus

if TYPE_CHECKING:
    from planwatch.storage.engine import Storage

EXIT_ERROR, EXIT_CONFIG, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 64, 130
EPILOG = ("Configuration: -c PATH, else $PLANWATCH_CONFIG, else ./planwatch.yaml, else defaults. "
          "Global options (-c, --log-level) go before or after the command. Exit codes: 0 ok, "
          "1 error, 2 invalid configuration, 64 usage error. Details: docs/cli.md")
RELOAD_WAIT_S = 60.0  # `reload --wait`: how long the worker gets to apply the configuration

log = structlog.get_logger("planwatch.cli")


class UsageError(PlanwatchError):
    """The command line is wrong (exit 64, not 2: the configuration may be fine)."""


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error, the code planwatch gives an invalid configuration."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _settings(args: argparse.Namespace) -> Settings:
    settings = loader.load(args.config)
    logs.configure(args.log_level or settings.logging.level, settings.logging.format)
    if settings.ignored_env:
        log.warning("config.env_ignored", variables=list(settings.ignored_env),
                    detail="these PLANWATCH_* variables name no setting and are ignored")
    return settings


def _actor() -> str:
    """`cli:<login name>`; a container UID without a passwd entry has none (getpass raises)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # KeyError before Python 3.13, OSError since
        return f"cli:uid-{os.getuid()}" if hasattr(os, "getuid") else "cli"


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        s = _settings(args)
    except ConfigError as exc:
        if not args.json:
            raise
        invalid: views.ConfigReport = {"valid": False, "problems": [
            {"path": loc, "message": message} for loc, message in exc.problems]}
        _print_json(invalid)
        return EXIT_CONFIG
    if args.json:
        valid: views.ConfigReport = {
            "valid": True, "problems": [], "targets": len(s.targets), "checks": len(s.checks),
            "storage": render.safe_url(s.storage_url.reveal()), "digest": s.digest,
            "ignored_environment": list(s.ignored_env)}
        _print_json(valid)
        return 0
    print(f"configuration OK: {len(s.targets)} target(s), {len(s.checks)} check(s), "
          f"storage {render.safe_url(s.storage_url.reveal())}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    storage = _open(args)
    print(f"storage {storage.url_safe} is at the current schema")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from planwatch import daemon, supervisor

    settings = _settings(args)
    workers = supervisor.worker_count(args.workers, settings)
    if workers == 1:
        return daemon.main(settings, args.config, lifeline=args.lifeline_fd)
    return supervisor.main(settings, workers, config=args.config, log_level=args.log_level)


def cmd_reload(args: argparse.Namespace) -> int:
    from planwatch import daemon

    settings = _settings(args)  # an invalid config stops here (exit 2)
    storage = _open(args, settings)
    sent_at = utcnow()
    lines, sent = daemon.signal_local_workers(storage, pid=args.pid)
    for line in lines:
        print(line, flush=True)
    if not sent:
        raise PlanwatchError(f"no running worker of storage {storage.url_safe} on this host"
                             + (f" with pid {args.pid}" if args.pid else ""))
    if args.wait:
        _wait_applied(storage, sent, settings.digest, sent_at)
    return 0


def _wait_applied(storage: Storage, instance_ids: list[str], digest: str, since: datetime) -> None:
    """Until every signalled worker reports the configuration `digest` applied after `since`
    (systemd's ExecReload must wait for the result, not just send a signal)."""
    from planwatch.storage import workers

    deadline = time.monotonic() + RELOAD_WAIT_S
    while True:
        signalled = [w for w in workers.list_all(storage) if w.instance_id in instance_ids]
        waiting = [w for w in signalled if not (
            w.config_digest == digest and (w.last_heartbeat or since) >= since)]
        if not waiting:
            print(f"configuration {digest[:12]} applied", flush=True)
            return
        if time.monotonic() > deadline:
            names = ", ".join(w.name for w in waiting)
            raise PlanwatchError(f"worker {names} did not apply the configuration within "
                                 f"{RELOAD_WAIT_S:.0f}s: see its log (config.reload_rejected)")
        time.sleep(0.2)


def cmd_probe(args: argparse.Namespace) -> int:
    """GET /health/<which> of the worker this configuration describes (container HEALTHCHECK):
    exit 0 on 200, 1 otherwise. Follows `http.host`/`http.port` wherever they were set."""
    import urllib.error
    import urllib.request

    http = _settings(args).http
    if not http.enabled or http.port == 0:
        raise PlanwatchError("http is disabled or on a random port (http.port: 0)")
    host = "127.0.0.1" if http.host in ("0.0.0.0", "::") else http.host  # any address: loopback
    netloc = f"[{host}]" if ":" in host else host
    url = f"http://{netloc}:{http.port}/health/{args.which}"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:
        raise PlanwatchError(f"{url}: {getattr(exc, 'reason', exc)}") from None
    print(f"{url}: HTTP {status}")
    return 0 if status == 200 else EXIT_ERROR


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


def _open(args: argparse.Namespace, settings: Settings | None = None) -> Any:
    """The migrated storage for a command; `main` closes it when the command returns."""
    from planwatch.app import open_storage

    storage = open_storage(settings or _settings(args))
    args.opened.callback(storage.close)
    return storage


def cmd_alerts(args: argparse.Namespace) -> int:
    from planwatch.alerting import actions
    from planwatch.storage import alerts

    st = _open(args)
    if args.action in ("ack", "resolve"):
        if args.id is None:
            raise UsageError(f"usage: planwatch alerts {args.action} ID [--comment TEXT]")
        changed = actions.acknowledge if args.action == "ack" else actions.resolve
        a = changed(st, args.id, actor=_actor(), comment=args.comment or "")
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
    st = _open(args, settings)
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
    st = _open(args, settings)
    if args.action == "add":
        s = commands.add_silence(
            st, args.matchers, duration=args.duration, starts_at=args.starts_at,
            comment=args.comment or "", actor=_actor(), now=now,
        )
        print(f"silence {s.id} active until {s.ends_at:%Y-%m-%d %H:%M} UTC")
    elif args.action == "expire":
        if len(args.matchers) != 1 or not args.matchers[0].isdigit():
            raise UsageError("usage: planwatch silences expire ID")
        s = silences.expire(st, int(args.matchers[0]), now=now)
        print(f"silence {s.id} ended at {s.ends_at:%Y-%m-%d %H:%M:%S} UTC")
    else:
        rows = commands.silence_rows(st, settings, now, every=args.all)
        if args.json:
            _print_json([views.silence(r, now) for r in rows])
        else:
            print(commands.silences_table(rows, now))
    return 0


def cmd_queries(args: argparse.Namespace) -> int:
    from planwatch.storage import queries

    settings = _settings(args)
    st = _open(args, settings)
    now = utcnow()
    top = queries.top(st, target=args.target, since=now - args.since, until=now, limit=args.limit)
    needed = settings.analysis.regression.min_baseline_samples
    if args.json:
        _print_json([views.query(q, needed) for q in top])
    else:
        print(render.queries_table(top, needed))
    return 0


def cmd_checks(args: argparse.Namespace) -> int:
    from planwatch.checks import plan
    from planwatch.storage import check_results

    settings = _settings(args)
    st = _open(args, settings)
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


def _workers(text: str) -> int | None:
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a number of workers (1 or more) or auto: {text!r}")
    return int(text)


def _utc_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 date and time: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """-c and --log-level, accepted before the command (default None) and after it
    (default SUPPRESS, so an option given only before the command is not overwritten)."""
    parser.add_argument("-c", "--config", default=default,
                        help="path of the YAML configuration file")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                        default=default, help="overrides logging.level")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="planwatch", epilog=EPILOG,
        description="Watch databases for query performance regressions and plan changes.",
    )
    p.add_argument("--version", action="version", version=f"planwatch {__version__}")
    _global_options(p, None)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_: str) -> Any:
        sp = sub.add_parser(name, help=help_, description=help_, epilog=EPILOG)
        _global_options(sp, argparse.SUPPRESS)
        sp.set_defaults(func=fn)
        return sp

    r = add("run", cmd_run, "run the worker(s): scheduler, jobs and HTTP server, until "
            "SIGTERM/SIGINT")
    r.add_argument("--workers", type=_workers, metavar="N|auto",
                   help="worker processes on this host, supervised by this one [auto: one per "
                   "core on PostgreSQL storage, 1 on SQLite] (docs/fleet.md)")
    r.add_argument("--lifeline-fd", type=int, metavar="FD",
                   help="set by the supervisor of --workers N: stop when this pipe closes")
    d = add("demo", cmd_demo, "start a throwaway PostgreSQL, break a query's plan, detect it")
    d.add_argument("--serve", type=int, default=0, metavar="SECONDS",
                   help="keep serving /health and /metrics this long after detection")
    d.add_argument("--port", type=int, default=0, help="HTTP port (default: a free port)")
    add("migrate", cmd_migrate, "create or upgrade the storage schema")
    pr = add("probe", cmd_probe, "ask the configured worker's /health/live or /health/ready "
             "(exit 0 on HTTP 200; for container health checks)")
    pr.add_argument("which", nargs="?", choices=["live", "ready"], default="live",
                    help="which health endpoint [live]")
    pr.add_argument("--timeout", type=float, default=5.0, help="seconds to wait [5]")
    r = add("reload", cmd_reload, "validate the configuration, then make the running worker(s) "
            "of this storage on this host re-read it (SIGHUP)")
    r.add_argument("--pid", type=int, help="only the worker with this process id "
                   "(systemd: $MAINPID)")
    r.add_argument("--wait", action="store_true", help="wait until the worker(s) applied it "
                   f"(up to {RELOAD_WAIT_S:.0f}s; exit 1 if not)")
    cc = add("check-config", cmd_check_config,
             "validate the configuration and report every problem")
    cc.add_argument("--json", action="store_true",
                    help="print {valid, problems: [{path, message}], ...} (for CI)")
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
    with contextlib.ExitStack() as opened:
        args.opened = opened  # what `_open` gave the command is closed when it returns
        try:
            return int(args.func(args))
        except ConfigError as exc:
            print(f"planwatch: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        except UsageError as exc:
            print(f"planwatch: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except PlanwatchError as exc:
            print(f"planwatch: error: {exc}", file=sys.stderr)
            return EXIT_ERROR
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
