"""A real Alertmanager (Debian's `prometheus-alertmanager`) on a free loopback port, for tests.

It routes every alert to a webhook receiver of the test, grouped by target and kind, with
second-scale timers, and sends resolved notifications too.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from receivers import free_port

BINARY = "prometheus-alertmanager"


def binary() -> str:
    found = shutil.which(BINARY) or shutil.which("alertmanager")
    if found is None:
        raise RuntimeError("Alertmanager is not installed: run scripts/bootstrap "
                           "(Debian package prometheus-alertmanager)")
    return found


@dataclass
class Alertmanager:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alerts(self, **params: str) -> list[dict[str, Any]]:
        found = httpx.get(f"{self.url}/api/v2/alerts", params=params, timeout=5).json()
        return list(found)

    def groups(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/api/v2/alerts/groups", timeout=5).json())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start(tmp: Path, webhook_url: str) -> Alertmanager:
    config = {
        "global": {"resolve_timeout": "5m"},
        "route": {"receiver": "test", "group_by": ["target", "kind"], "group_wait": "1s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "test", "webhook_configs": [
            {"url": webhook_url, "send_resolved": True}]}],
    }
    (tmp / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = tmp / "alertmanager.log"
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [binary(), f"--config.file={tmp / 'alertmanager.yml'}",
             f"--storage.path={tmp / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
             "--cluster.listen-address=", "--log.level=warn"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    am = Alertmanager(proc, port, log)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{am.url}/-/ready", timeout=1).status_code == 200:
                return am
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            am.stop()
            raise RuntimeError(f"Alertmanager did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
