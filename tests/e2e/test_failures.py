"""The worker under failure, as a real `planwatch run` process against real PostgreSQL servers:
a target down at start and mid-run, a wrong password, an invalid config, a stop signal while a
collection is stuck on a frozen server.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from workerproc import WorkerProcess, cli, fast_config, in_process, wait_for, write_config

import pg_roles
from planwatch.devtools import pgcluster
from planwatch.devtools.pgcluster import PgCluster, free_port
from planwatch.model.jobs import JobStatus
from planwatch.storage import alerts, job_runs, targets, workers
from planwatch.storage.engine import Storage

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[PgCluster]:
    """A cluster of this module's own, to stop, start and freeze without disturbing others."""
    cluster = pgcluster.start_cluster()
    try:
        yield cluster
    finally:
        _thaw(cluster)
        cluster.cleanup()


def _postmaster_pid(cluster: PgCluster) -> int:
    return int((cluster.datadir / "postmaster.pid").read_text().split()[0])


def _thaw(cluster: PgCluster) -> None:
    pid_file = cluster.datadir / "postmaster.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(_postmaster_pid(cluster), signal.SIGCONT)


def _target(cluster: PgCluster, name: str = "main", **extra: object) -> dict[str, object]:
    return {"name": name, "engine": "postgresql", "dsn": cluster.dsn("postgres"),
            "connect_timeout": "1s", "command_timeout": "5s", **extra}


def _health_is(worker: WorkerProcess, status: str) -> dict[str, object] | None:
    got = worker.health("/health/ready")
    if got is None:
        return None
    code, body = got
    assert code == 200, body  # target trouble never makes planwatch itself unready
    return body if body["status"] == status else None


# -- 1. target down at start and mid-run -------------------------------------------------------


def test_target_down_at_start_and_mid_run_then_recovery(
    tmp_path: Path, own_cluster: PgCluster
) -> None:
    own_cluster.stop()
    config = fast_config(tmp_path, [_target(own_cluster)])
    with WorkerProcess(write_config(tmp_path / "pw.yaml", config)) as worker:
        worker.wait_ready()
        body = wait_for(lambda: _health_is(worker, "Degraded") if _failed(worker) >= 3 else None,
                        what="Degraded after 3 failures", process=worker)
        checks = body["checks"]
        assert isinstance(checks, dict)
        assert checks["job:collection:main"]["status"] == "Degraded"
        assert re.fullmatch(r"\d+ consecutive failures; next retry \d\d:\d\d:\d\d UTC",
                            checks["job:collection:main"]["message"])
        assert checks["target:main"]["status"] == "Degraded"
        assert checks["storage"]["status"] == "Healthy"

        failed = [r for r in worker.runs("collection:main") if r.status is JobStatus.FAILED]
        assert [r.retry_count for r in failed[:3]] == [0, 1, 2]
        waits = [round((r.next_retry_at - r.completed_at).total_seconds())  # type: ignore[operator]
                 for r in failed[:4] if r.next_retry_at and r.completed_at]
        assert waits[:3] == [1, 2, 4]  # doubling from 1s ...
        assert max(waits) <= 4  # ... capped at the configured max
        assert all("cannot connect to" in (r.error or "") for r in failed[:3])
        assert all((r.error or "").startswith("TargetUnreachable: main: cannot connect")
                   or "circuit open" in (r.error or "") for r in failed)

        own_cluster.start()  # the server comes back: collection resumes, health recovers
        wait_for(lambda: _health_is(worker, "Healthy"), what="Healthy after recovery",
                 process=worker)
        runs = worker.runs("collection:main")
        last_failure = max(i for i, r in enumerate(runs) if r.status is JobStatus.FAILED)
        assert any(r.status is JobStatus.COMPLETED for r in runs[last_failure:])
        wait_for(lambda: targets.list_all(worker.storage)[0].up, what="target row up again",
                 process=worker)

        own_cluster.stop()  # down again mid-run, then back
        wait_for(lambda: _health_is(worker, "Degraded"), what="Degraded mid-run", process=worker)
        own_cluster.start()
        wait_for(lambda: _health_is(worker, "Healthy"), what="Healthy again", process=worker)

        assert worker.proc.poll() is None, "the worker must stay up through target outages"
        assert worker.stop(signal.SIGTERM) == 0
    assert worker.events("job.recovered"), "recovery is logged"


def _failed(worker: WorkerProcess) -> int:
    return sum(r.status is JobStatus.FAILED for r in worker.runs("collection:main"))


# -- 2. wrong password -------------------------------------------------------------------------


@pytest.fixture
def password_role(pg_cluster: PgCluster) -> Iterator[str]:
    with pg_roles.password_role(pg_cluster, "pw", grants=["pg_read_all_stats"]) as role:
        yield role


def test_wrong_password_is_reported_clearly_and_never_leaks(
    tmp_path: Path, pg_cluster: PgCluster, password_role: str
) -> None:
    refused = pg_roles.refuses_wrong_password
    wait_for(lambda: refused(pg_cluster, password_role), what="scram enforced")
    secret = f"Wr0ngPa55{uuid.uuid4().hex}"
    dsn = f"postgresql://{password_role}:${{PW_SECRET}}@127.0.0.1:{pg_cluster.port}/postgres"
    config = fast_config(tmp_path, [{"name": "billing", "engine": "postgresql", "dsn": dsn,
                                     "connect_timeout": "2s"}])
    path = write_config(tmp_path / "pw.yaml", config)
    env = {"PW_SECRET": secret}
    assert secret not in path.read_text()

    with WorkerProcess(path, env=env) as worker:
        worker.wait_ready()
        failed = wait_for(
            lambda: [r for r in worker.runs("collection:billing") if r.status is JobStatus.FAILED],
            what="a failed collection", process=worker)
        wait_for(lambda: _health_is(worker, "Degraded"), what="Degraded", process=worker)
        wait_for(lambda: alerts.list_alerts(worker.storage, status="open"),
                 what="a health alert", process=worker)
        api = [worker.get(p) for p in ("/health", "/health/ready", "/health/live", "/metrics")]
        assert worker.stop() == 0

    error = failed[0].error or ""
    assert "billing" in error and "password authentication failed" in error, error
    assert password_role in error  # names the user it tried
    logged = [e for e in worker.events("job.failed") if e.get("target") == "billing"]
    assert logged and "password authentication failed" in logged[0]["error"]

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PW_SECRET", secret)
        once = in_process("-c", str(path), "collect", "--once", "--pause", "1s")
        listed = [in_process("-c", str(path), *args).stdout for args in (
            ("alerts", "--status", "all", "--json"), ("workers", "--json"), ("queries",))]
    assert once.returncode == 1
    assert "password authentication failed" in once.stdout
    assert "billing" in listed[0] and "Running" not in listed[1]

    outputs = {
        "stdout": worker.stdout(), "stderr": worker.stderr(),
        "collect --once": once.stdout + once.stderr,
        **{f"GET {r.url.path}": r.text for r in api if r is not None},
        "CLI listings": "".join(listed),
    }
    assert len(outputs) == 8
    for where, text in outputs.items():
        assert secret not in text, f"password leaked into {where}"
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("planwatch.db*"))
    assert secret.encode() not in stored, "password leaked into the storage database"


# -- 3. invalid configuration ------------------------------------------------------------------


BROKEN = """
storage: {{url: "sqlite:///{db}"}}
targets:
  - name: a
    engine: postgresql
    dsn: "host=127.0.0.1 dbname=x"
    connect_timeout: 10 parsecs
  - name: a
    engine: postgresql
    dsn: "host=127.0.0.1 dbname=y"
    colour: blue
scheduling:
  backoff: {{initial: 5m, max: 1m}}
http: {{port: {port}}}
"""


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_invalid_config_lists_every_problem_and_starts_nothing(
    tmp_path: Path, command: str
) -> None:
    db = tmp_path / "never.db"
    port = free_port()
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN.format(db=db, port=port))
    result = cli("-c", str(path), command)
    assert result.returncode == 2, result.stderr
    err = result.stderr
    assert "invalid configuration (4 problem(s))" in err, err
    assert "targets[0].connect_timeout: invalid duration '10 parsecs'" in err
    assert "targets[1].name: duplicate target name 'a'" in err
    assert "targets[1].colour: unknown key" in err
    assert "scheduling.backoff: 'max' must not be shorter than 'initial'" in err
    assert "Traceback" not in err
    assert result.stdout == ""
    assert not db.exists(), "nothing may start: no storage created"


# -- 4. stop signals while a collection is stuck -----------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_during_a_stuck_collection(
    tmp_path: Path, own_cluster: PgCluster, signum: int
) -> None:
    """The server freezes (postmaster stopped): the reconnect hangs for its connect_timeout.

    The process must still exit within 10 s, code 0, worker Stopped, no run left Running.
    """
    target = _target(own_cluster, connect_timeout="60s", command_timeout="60s")
    config = fast_config(tmp_path, [target])
    with WorkerProcess(write_config(tmp_path / "pw.yaml", config)) as worker:
        wait_for(lambda: any(r.status is JobStatus.COMPLETED
                             for r in worker.runs("collection:main")),
                 what="a first collection", process=worker)
        backend = int(own_cluster.psql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'planwatch'").split()[0])
        postmaster = _postmaster_pid(own_cluster)
        os.kill(postmaster, signal.SIGSTOP)  # frozen: new connections hang after TCP accept
        try:
            os.kill(backend, signal.SIGTERM)  # the open session dies, forcing a reconnect
            wait_for(lambda: _reconnect_in_flight(worker), what="a reconnect stuck in flight",
                     process=worker)
            code = worker.stop(signum, timeout=10)
        finally:
            os.kill(postmaster, signal.SIGCONT)
        assert code == 0, worker.stderr()[-2000:]
        (row,) = workers.list_all(worker.storage)
        assert row.status.value == "Stopped"
        runs = worker.runs()
        assert not [r for r in runs if r.status is JobStatus.RUNNING]
        assert runs[-1].status is JobStatus.CANCELLED or any(
            r.status is JobStatus.CANCELLED for r in runs)
        assert worker.events("worker.stopped")
    # Lines the collector logs from its driver thread carry the job run's correlation id.
    connected = worker.events("collection.connected")
    assert connected and all(isinstance(e.get("run_id"), int) and e["job"] == "collection:main"
                             and e["target"] == "main" for e in connected)


def _reconnect_in_flight(worker: WorkerProcess) -> bool:
    """The newest collection run started after a lost-connection failure and is still running."""
    runs = worker.runs("collection:main")
    lost = [i for i, r in enumerate(runs)
            if r.status is JobStatus.FAILED and "lost" in (r.error or "")]
    return bool(lost) and runs[-1].status is JobStatus.RUNNING and len(runs) - 1 > lost[-1]


# -- 5. HTTP port taken ----------------------------------------------------------------------


def test_http_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path / "pw.yaml", fast_config(tmp_path, [], port=port))
        result = cli("-c", str(config), "run", timeout=30)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"planwatch: error: the HTTP server cannot listen on 127.0.0.1:{port} (see the error "
        "above); change http.port or stop the other process")
    assert "address already in use" in result.stderr and "Traceback" not in result.stderr
    st = Storage.open(f"sqlite:///{tmp_path / 'planwatch.db'}")
    try:
        (row,) = workers.list_all(st)
        assert row.status.value == "Stopped"
        assert not [r for r in job_runs.recent(st) if r.status is JobStatus.RUNNING]
    finally:
        st.close()
