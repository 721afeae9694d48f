"""The `planwatch` command as a user runs it: a subprocess against a throwaway PostgreSQL and a
real SQLite storage file. Help texts are checked in-process (argparse, nothing process-level).
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from workerproc import Result, WorkerProcess, cli, fast_config, in_process, wait_for, write_config

from planwatch import cli as cli_module
from planwatch.clock import utcnow
from planwatch.devtools.pgcluster import PgCluster, free_port
from planwatch.model.alerts import Alert, AlertKind, AlertStatus
from planwatch.model.findings import Severity
from planwatch.model.jobs import Worker, WorkerStatus
from planwatch.storage import alerts, targets, workers
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration

SPEC_ALERT_FIELDS = {
    "id", "kind", "status", "severity", "target", "database", "query_id", "query_text",
    "plan_changed", "baseline_ms", "current_ms", "ratio", "opened_at", "updated_at",
    "resolved_at", "details",
}
QUERY_FIELDS = {
    "target", "database", "query_id", "fingerprint", "query_text", "calls", "total_ms",
    "mean_ms", "rows", "plan_count", "plan_changed", "last_plan_hash", "first_seen", "last_seen",
    "baseline",
}
WORKER_FIELDS = {
    "instance_id", "name", "host", "pid", "version", "environment", "status", "started_at",
    "stopped_at", "last_heartbeat", "config_digest",
}


@dataclass
class Setup:
    config: Path
    storage_url: str
    db: str
    collect: Result
    analyze: Result

    def run(self, *args: str) -> Result:
        return in_process("-c", str(self.config), *args)

    def storage(self) -> Storage:
        return Storage.open(self.storage_url)


def _workload(dsn: str, stop: threading.Event) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            conn.execute("SELECT count(*) FROM items WHERE kind = %s", ("a",)).fetchone()
            conn.execute("SELECT name FROM items WHERE id = %s", (7,)).fetchone()
            if stop.is_set():
                return


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, pg_cluster: PgCluster) -> Iterator[Setup]:
    """`migrate`, then `collect --once` while a workload runs, then `analyze --once`."""
    tmp = tmp_path_factory.mktemp("cli")
    db = f"cli_{uuid.uuid4().hex[:10]}"
    pg_cluster.psql(f"CREATE DATABASE {db}")
    pg_cluster.psql("CREATE EXTENSION pg_stat_statements; CREATE TABLE items AS SELECT g AS id, "
                    "md5(g::text) AS name, (ARRAY['a','b'])[1 + g % 2] AS kind "
                    "FROM generate_series(1, 2000) g", db)
    storage_url = f"sqlite:///{tmp / 'planwatch.db'}"
    config = write_config(tmp / "planwatch.yaml", {
        "storage": {"url": storage_url},
        "targets": [{"name": "shop", "engine": "postgresql", "dsn": pg_cluster.dsn(db)}],
        "http": {"enabled": False},
        "logging": {"format": "json"},
    })
    assert in_process("-c", str(config), "migrate").returncode == 0
    primed = threading.Event()
    primed.set()
    _workload(pg_cluster.dsn(db), primed)  # one round first: the entries exist at the 1st poll
    stop = threading.Event()
    load = threading.Thread(target=_workload, args=(pg_cluster.dsn(db), stop))
    load.start()
    try:
        collect = in_process("-c", str(config), "collect", "--once", "--pause", "2s")
    finally:
        stop.set()
        load.join()
    analyze = in_process("-c", str(config), "analyze", "--once", "--rebuild-baselines")
    yield Setup(config, storage_url, db, collect, analyze)
    pg_cluster.psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def _alert(st: Storage, target: str = "shop") -> Alert:
    now = utcnow()
    return alerts.create(st, Alert(
        id=None, dedup_key=f"health:{target}:{uuid.uuid4().hex}", kind=AlertKind.HEALTH,
        status=AlertStatus.OPEN, severity=Severity.WARNING, target=target, database=None,
        subject="collector", title="test alert", opened_at=now, updated_at=now,
        details={"reason": "made by the CLI test"},
    ), actor="test")


# -- help ----------------------------------------------------------------------------------------


def _subcommands() -> list[str]:
    parser = cli_module.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(sub.choices)


def test_top_level_help_lists_every_command() -> None:
    result = cli("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: planwatch")
    for command in _subcommands():
        assert f"    {command}" in result.stdout, command
    assert "PLANWATCH_CONFIG" in result.stdout
    assert set(_subcommands()) >= {
        "run", "demo", "migrate", "check-config", "collect", "analyze", "alerts", "queries",
        "workers", "secrets", "reload",
    }


@pytest.mark.parametrize("command", _subcommands())
def test_each_command_has_a_clear_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_module.main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: planwatch {command}")
    description = out.split("\n\n")[1].strip()
    assert len(description) > 20, f"{command} needs a description"
    assert "Exit codes: 0 ok, 1 error, 2 invalid configuration" in " ".join(out.split())
    parser = cli_module.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in sub.choices[command]._actions:
        assert action.help and action.help != argparse.SUPPRESS, (command, action.dest)


# -- check-config, migrate, collect, analyze -----------------------------------------------------


def test_check_config_ok(setup: Setup) -> None:
    result = setup.run("check-config")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("configuration OK: 1 target(s), 0 check(s), storage sqlite")


def test_migrate_creates_then_keeps_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    config = write_config(tmp_path / "c.yaml", {"storage": {"url": url}})
    for _ in range(2):  # idempotent
        result = in_process("-c", str(config), "migrate")
        assert result.returncode == 0, result.stderr
        assert "is at the current schema" in result.stdout
    st = Storage.open(url)
    try:
        assert st.schema_current()
    finally:
        st.close()


def test_collect_once_and_analyze_once(setup: Setup) -> None:
    assert setup.collect.returncode == 0, setup.collect.stderr
    line = setup.collect.stdout.strip()
    assert line.startswith("collection:shop: "), line
    samples = int(line.split(": ")[2].split()[0])
    assert samples > 0, "the workload between the two polls makes samples"
    assert setup.analyze.returncode == 0, setup.analyze.stderr
    assert "baseline_rebuild: Healthy" in setup.analyze.stdout
    assert "analysis: " in setup.analyze.stdout


def test_collect_unknown_target(setup: Setup) -> None:
    result = setup.run("collect", "--once", "--target", "nope")
    assert result.returncode == 1
    assert "no enabled target named 'nope'" in result.stderr


# -- reading: queries, alerts, workers -----------------------------------------------------------


def test_queries_text_and_json(setup: Setup) -> None:
    text = setup.run("queries")
    assert text.returncode == 0, text.stderr
    assert "items WHERE kind" in text.stdout
    result = setup.run("queries", "--json", "--target", "shop")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows and all(set(r) == QUERY_FIELDS for r in rows)
    mine = [r for r in rows if "FROM items WHERE kind" in (r["query_text"] or "")]
    assert mine and mine[0]["calls"] > 0 and mine[0]["database"] == setup.db
    assert isinstance(mine[0]["query_id"], str)
    # A handful of intervals: every query is still learning its baseline.
    baseline = mine[0]["baseline"]
    assert baseline["state"] == "learning" and baseline["needed"] == 12
    assert 0 <= baseline["samples"] < 12
    assert f"learning {baseline['samples']}/12" in text.stdout
    assert json.loads(setup.run("queries", "--json", "--target", "other").stdout) == []


def test_alerts_json_is_the_documented_shape(setup: Setup) -> None:
    st = setup.storage()
    try:
        made = _alert(st)
    finally:
        st.close()
    result = setup.run("alerts", "--json")
    assert result.returncode == 0, result.stderr
    found = {a["id"]: a for a in json.loads(result.stdout)}
    mine = found[made.id]
    assert set(mine) == SPEC_ALERT_FIELDS | {"title"}
    assert mine["kind"] == "health" and mine["status"] == "open"
    assert mine["severity"] == "warning" and mine["target"] == "shop"
    assert mine["details"] == {"reason": "made by the CLI test"}
    text = setup.run("alerts")
    assert text.returncode == 0 and "test alert" in text.stdout


def test_alerts_ack_and_resolve_with_comment(setup: Setup) -> None:
    st = setup.storage()
    try:
        made = _alert(st)
        ack = setup.run("alerts", "ack", str(made.id), "--comment", "looking at it")
        assert ack.returncode == 0, ack.stderr
        assert ack.stdout.strip() == f"alert {made.id} is now acknowledged"
        resolve = setup.run("alerts", "resolve", str(made.id), "--comment", "fixed the index")
        assert resolve.stdout.strip() == f"alert {made.id} is now resolved"
        again = setup.run("alerts", "resolve", str(made.id))
        assert again.returncode == 1
        assert again.stderr.splitlines()[-1] == (
            f"planwatch: error: alert {made.id} is already resolved")
        events = alerts.events(st, made.id or 0)
    finally:
        st.close()
    assert [e.event for e in events][-2:] == ["acknowledged", "resolved"]
    assert [e.message for e in events][-2:] == ["looking at it", "fixed the index"]
    assert all(e.actor.startswith("cli:") for e in events[-2:])
    listed = json.loads(setup.run("alerts", "--status", "resolved", "--json").stdout)
    assert made.id in {a["id"] for a in listed}


def test_unknown_alert_id_is_a_clear_error(setup: Setup) -> None:
    result = setup.run("alerts", "ack", "999999")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "planwatch: error: alert 999999 does not exist"
    assert "Traceback" not in result.stderr
    missing = setup.run("alerts", "ack")
    assert missing.returncode == 64 and "usage: planwatch alerts ack ID" in missing.stderr


def test_storage_unreachable_is_clear_and_hides_the_password(tmp_path: Path) -> None:
    secret = f"St0rage{uuid.uuid4().hex}"
    url = f"postgresql+psycopg://planwatch:{secret}@127.0.0.1:{free_port()}/planwatch"
    config = write_config(tmp_path / "c.yaml", {"storage": {"url": "${STORE}"}})
    results = [cli("-c", str(config), "alerts", "--json", env={"STORE": url})]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("STORE", url)
        results += [in_process("-c", str(config), *command)
                    for command in (["workers"], ["queries", "--json"], ["migrate"])]
    for result in results:
        assert result.returncode == 1, result.stderr
        last = result.stderr.splitlines()[-1]
        assert last.startswith("planwatch: error: storage postgresql+psycopg://planwatch:***@"), \
            result.stderr
        assert "127.0.0.1" in last and "refused" in last.lower()
        assert "Traceback" not in result.stderr
        assert secret not in result.stdout + result.stderr


# -- reload and workers, with a running worker ---------------------------------------------------


@pytest.fixture
def running(tmp_path: Path, pg_cluster: PgCluster, setup: Setup) -> Iterator[WorkerProcess]:
    target = {"name": "shop", "engine": "postgresql", "dsn": pg_cluster.dsn(setup.db)}
    config = fast_config(tmp_path, [target])
    with WorkerProcess(write_config(tmp_path / "pw.yaml", config)) as worker:
        worker.wait_ready()
        # HTTP is live before the worker has migrated its storage and registered itself
        wait_for(worker.runs, what="the worker's first job run", process=worker)
        yield worker


def test_workers_text_and_json(running: WorkerProcess) -> None:
    result = in_process("-c", str(running.config_path), "workers", "--json")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert set(row) == WORKER_FIELDS
    assert row["status"] == "Running" and row["pid"] == running.proc.pid
    text = in_process("-c", str(running.config_path), "workers")
    assert "Running" in text.stdout and str(running.proc.pid) in text.stdout
    assert running.stop() == 0
    (row,) = json.loads(in_process("-c", str(running.config_path), "workers", "--json").stdout)
    assert row["status"] == "Stopped" and row["stopped_at"]


def test_reload_applies_a_valid_config_and_rejects_an_invalid_one(
    running: WorkerProcess, pg_cluster: PgCluster, setup: Setup
) -> None:
    path = running.config_path
    wait_for(lambda: running.runs("collection:shop"), what="a collection", process=running)
    config = dict(running.config)
    config["targets"] = [*config["targets"], {
        "name": "extra", "engine": "postgresql", "dsn": pg_cluster.dsn(setup.db)}]
    write_config(path, config)

    # what systemd's ExecReload runs: it returns once the worker applied the new file
    result = cli("-c", str(path), "reload", "--pid", str(running.proc.pid), "--wait")
    assert result.returncode == 0, result.stderr
    sent = f"sent SIGHUP to worker {_name(running)} (pid {running.proc.pid})"
    digest = json.loads(cli("-c", str(path), "check-config", "--json").stdout)["digest"]
    assert result.stdout.splitlines() == [sent, f"configuration {digest[:12]} applied"]
    assert "extra" in _target_names(running)
    wait_for(lambda: running.runs("collection:extra"), what="extra collected", process=running)
    assert running.events("config.reloaded")

    path.write_text(path.read_text().replace("interval: 1s", "interval: soon"))
    rejected = in_process("-c", str(path), "reload")
    assert rejected.returncode == 2
    assert "scheduling.collection.interval: invalid duration 'soon'" in rejected.stderr

    running.send(signal.SIGHUP)  # the worker re-reads the broken file itself: it must keep going
    event = wait_for(lambda: running.events("config.reload_rejected"), what="rejection logged",
                     process=running)
    assert any("scheduling.collection.interval" in p for p in event[0]["problems"])
    before = len(running.runs("collection:extra"))
    wait_for(lambda: len(running.runs("collection:extra")) > before + 1,
             what="collections continue with the old config", process=running)
    status, body = running.health("/health") or (0, {})
    assert status == 200 and body["status"] == "Healthy", body
    assert running.proc.poll() is None
    assert running.stop() == 0


def test_reload_without_a_running_worker(setup: Setup) -> None:
    result = setup.run("reload")
    assert result.returncode == 1
    assert "no running worker of storage sqlite:///" in result.stderr
    result = setup.run("reload", "--pid", "1")
    assert result.returncode == 1 and result.stderr.rstrip().endswith("on this host with pid 1")


def _name(worker: WorkerProcess) -> str:
    out = in_process("-c", str(worker.config_path), "workers", "--json").stdout
    return str(json.loads(out)[0]["name"])


def _target_names(worker: WorkerProcess) -> set[str]:
    return {t.name for t in targets.list_all(worker.storage) if t.enabled}


def test_reload_never_signals_a_reused_pid(tmp_path: Path) -> None:
    """A Running row whose pid now belongs to another program (pid reuse) is skipped."""
    url = f"sqlite:///{tmp_path / 'pw.db'}"
    config = write_config(tmp_path / "c.yaml", {"storage": {"url": url}})
    other = subprocess.Popen(["sleep", "60"])
    st = Storage.open(url)
    try:
        st.migrate()
        now = utcnow()
        workers.register(st, Worker(
            instance_id=uuid.uuid4().hex, name="ghost", host=socket.gethostname(),
            pid=other.pid, version="0", environment="", status=WorkerStatus.RUNNING,
            started_at=now, last_heartbeat=now, config_digest=""), stale_after=timedelta(1))
        result = in_process("-c", str(config), "reload")
        assert result.returncode == 1
        assert result.stdout.strip() == (f"skipped worker ghost (pid {other.pid}): no planwatch "
                                         "process has that pid any more")
        assert other.poll() is None, "SIGHUP must not reach an unrelated process"
    finally:
        other.kill()
        other.wait()
        st.close()
