"""How the command line reads: global options on either side of the command, exit codes a CI
gate can tell apart (64 usage, 2 configuration), `check-config --json`, and the actor of an
acknowledgement when the process's UID has no user name (a container's runAsUser)."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from workerproc import Result, cli, in_process, write_config

from planwatch.clock import utcnow
from planwatch.devtools.pgcluster import free_port
from planwatch.model.alerts import Alert, AlertKind, AlertStatus
from planwatch.model.findings import Severity
from planwatch.storage import alerts
from planwatch.storage.engine import Storage

pytestmark = pytest.mark.integration

BROKEN = {"targets": [{"name": "a", "engine": "postgress", "dsn": "host=h"},
                      {"name": "b", "dsn": "nosuch://u:pw@h/db"}]}


@pytest.fixture
def configs(tmp_path: Path) -> tuple[Path, Path]:
    ok = write_config(tmp_path / "ok.yaml", {"storage": {"url": f"sqlite:///{tmp_path}/pw.db"}})
    return ok, write_config(tmp_path / "broken.yaml", BROKEN)


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_options_before_or_after_the_command(
    configs: tuple[Path, Path], where: str
) -> None:
    ok, _ = configs
    options = ["-c", str(ok), "--log-level", "debug"]
    args = [*options, "check-config"] if where == "before" else ["check-config", *options]
    result = in_process(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("configuration OK: 0 target(s)")


def test_option_after_the_command_wins(configs: tuple[Path, Path]) -> None:
    ok, broken = configs
    assert in_process("-c", str(broken), "check-config", "-c", str(ok)).returncode == 0
    assert in_process("-c", str(ok), "check-config", "-c", str(broken)).returncode == 2


def test_usage_errors_are_not_configuration_errors(configs: tuple[Path, Path]) -> None:
    ok, broken = configs
    for args in (["check-config", "--nope"], ["no-such-command"], ["--log-level", "loud", "run"],
                 ["-c", str(ok), "alerts", "ack"]):
        result = cli(*args)
        assert result.returncode == 64, (args, result.stderr)
        assert "usage: planwatch" in result.stderr
    result = cli("check-config", "-c", str(broken))
    assert result.returncode == 2
    assert "targets[0].engine: unknown engine 'postgress'; did you mean 'postgresql'?" in \
        result.stderr


def test_check_config_json(configs: tuple[Path, Path]) -> None:
    ok, broken = configs
    result = cli("check-config", "-c", str(broken), "--json")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert [p["path"] for p in report["problems"]] == ["targets[0].engine", "targets[1].dsn"]
    assert "did you mean 'postgresql'?" in report["problems"][0]["message"]
    assert "pw@" not in result.stdout
    links = {"PLANWATCH_SERVICE_HOST": "10.0.0.1", "PLANWATCH_PORT": "tcp://10.0.0.1:8080"}
    result = cli("check-config", "--json", "-c", str(ok), env=links)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["valid"], report["problems"], report["targets"]) == (True, [], 0)
    assert report["ignored_environment"] == ["PLANWATCH_PORT", "PLANWATCH_SERVICE_HOST"]
    assert len(report["digest"]) == 64
    warning = json.loads(result.stderr.splitlines()[-1])  # one JSON log line naming them
    assert warning["event"] == "config.env_ignored"
    assert warning["variables"] == ["PLANWATCH_PORT", "PLANWATCH_SERVICE_HOST"]


UID = 10001  # the image's and the Kubernetes manifest's runAsUser: no passwd entry here


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory another UID can write (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="pw-uid-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _as_uid(uid: int, args: list[str], results: multiprocessing.Queue[Result]) -> None:
    """In a forked child: drop to `uid` (no passwd entry, no USER variables), run the CLI.
    Forked, not exec'd: this interpreter lives under /root, which another UID cannot read."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        os.environ.pop(name, None)
    os.setgid(uid)
    os.setuid(uid)
    results.put(in_process(*args))


def test_ack_without_a_user_name_records_the_uid(shared_dir: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("running a command as another UID needs root (CI runs as root)")
    import pwd

    with pytest.raises(KeyError):
        pwd.getpwuid(UID)
    url = f"sqlite:///{shared_dir / 'pw.db'}"
    config = write_config(shared_dir / "pw.yaml", {"storage": {"url": url}})
    st = Storage.open(url)
    try:
        st.migrate()
        now = utcnow()
        made = alerts.create(st, Alert(
            id=None, dedup_key="health:x:uid", kind=AlertKind.HEALTH, status=AlertStatus.OPEN,
            severity=Severity.WARNING, target="x", database=None, subject="collector",
            title="uid test", opened_at=now, updated_at=now), actor="test")
        st.close()
        for path in shared_dir.iterdir():
            path.chmod(0o666)
        assert in_process("-c", str(config), "alerts").returncode == 0  # imports done here
        fork = multiprocessing.get_context("fork")
        results: multiprocessing.Queue[Result] = fork.Queue()
        child = fork.Process(target=_as_uid, args=(
            UID, ["-c", str(config), "alerts", "ack", str(made.id)], results))
        child.start()
        result = results.get(timeout=60)
        child.join(timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"alert {made.id} is now acknowledged"
        assert alerts.events(st, made.id or 0)[-1].actor == f"cli:uid-{UID}"
    finally:
        st.close()


def test_the_example_configs_own_command_line_works() -> None:
    """The first line of examples/planwatch.yaml, as people type it (global option after)."""
    example = Path(__file__).resolve().parents[2] / "examples" / "planwatch.yaml"
    assert "#   planwatch check-config -c examples/planwatch.yaml" in example.read_text()
    result = cli("check-config", "-c", str(example),
                 env={"PGPASSWORD": "example-pw", "HOSTNAME": "box"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("configuration OK:")


def test_probe_names_the_configured_port_when_nothing_answers(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path / "c.yaml", {"http": {"port": port, "host": "0.0.0.0"}})
    result = in_process("probe", "ready", "-c", str(config), "--timeout", "2")
    assert result.returncode == 1
    assert f"planwatch: error: http://127.0.0.1:{port}/health/ready: " in result.stderr
    disabled = write_config(tmp_path / "d.yaml", {"http": {"enabled": False}})
    assert in_process("-c", str(disabled), "probe").returncode == 1
