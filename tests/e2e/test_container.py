"""The image built from deploy/Dockerfile and run for real with podman (Debian's), on a Debian
base bootstrapped locally by scripts/container-base (no image registry is reachable here).

How this machine runs containers, and why the flags below: it is itself a sandbox with cgroup
v1 in hybrid mode, which crun refuses (so builds use `--isolation chroot` and the container runs
under runc), and with resource limits below podman's defaults (so `--ulimit` names smaller
ones). The container shares the host's network namespace and listens on a loopback port.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from planwatch.devtools.pgcluster import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BASE = "localhost/planwatch-base:bookworm"
UID = 10001
RUN_FLAGS = ["--runtime", "runc", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
             "--network", "host"]


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    found = shutil.which("podman")
    assert found, "podman is missing: PLANWATCH_WITH_DEPLOY_TOOLS=1 scripts/bootstrap installs it"
    return subprocess.run([found, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    base = subprocess.run([str(ROOT / "scripts" / "container-base")], capture_output=True,
                          text=True, timeout=1200, check=False)
    assert base.returncode == 0, base.stderr[-3000:]
    tag = f"localhost/planwatch:test-{uuid.uuid4().hex[:8]}"
    built = podman("build", "--isolation", "chroot", "--format", "docker",  # docker: HEALTHCHECK
                   "--layers=false", "--force-rm",  # leaves no intermediate images behind
                   "--build-arg", f"BASE_IMAGE={BASE}", "-f", "deploy/Dockerfile", "-t", tag,
                   str(ROOT), timeout=1200)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    yield tag
    podman("rmi", "-f", tag)


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def test_image_runs_as_10001_and_answers_on_its_configured_port(
    image: str, tmp_path: Path
) -> None:
    port = free_port()  # not 8080: the health check must follow http.port
    config = tmp_path / "planwatch.yaml"
    config.write_text(f"storage: {{url: 'sqlite:////var/lib/planwatch/planwatch.db'}}\n"
                      f"http: {{port: {port}}}\n")
    config.chmod(0o644)
    tmp_path.chmod(0o755)
    name = f"pw-test-{uuid.uuid4().hex[:8]}"
    started = podman("run", "-d", "--name", name, *RUN_FLAGS,
                     "-v", f"{config}:/etc/planwatch/planwatch.yaml:ro", image)
    assert started.returncode == 0, started.stderr
    try:
        deadline = time.monotonic() + 90
        while _status(f"http://127.0.0.1:{port}/health/ready") != 200:
            state = podman("inspect", name, "--format", "{{.State.Status}}").stdout.strip()
            assert state == "running", podman("logs", name).stderr[-3000:]
            assert time.monotonic() < deadline, podman("logs", name).stderr[-3000:]
            time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=5) as r:
            body = json.load(r)
        assert body["status"] == "Healthy" and body["checks"]["storage"]["message"] == "sqlite"

        assert podman("exec", name, "id", "-u").stdout.strip() == str(UID)
        probe = podman("exec", name, "planwatch", "probe", "ready")
        assert probe.returncode == 0, probe.stderr
        assert probe.stdout.strip() == f"http://127.0.0.1:{port}/health/ready: HTTP 200"
        health = podman("healthcheck", "run", name)  # the image's own HEALTHCHECK
        assert health.returncode == 0, health.stdout + health.stderr

        t0 = time.monotonic()
        assert podman("stop", "-t", "15", name).returncode == 0
        assert time.monotonic() - t0 < 10  # SIGTERM: planwatch stops itself within 10 s
        exit_code = podman("inspect", name, "--format", "{{.State.ExitCode}}").stdout.strip()
        assert exit_code == "0"
        logs = podman("logs", name).stderr
        events = [json.loads(line)["event"] for line in logs.splitlines() if line.startswith("{")]
        assert "worker.ready" in events and events[-1] == "worker.stopped"
    finally:
        podman("rm", "-f", name)
