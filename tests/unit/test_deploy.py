"""The deployment files in deploy/ agree with what planwatch really does: the unit is valid
for systemd, the manifests' probes hit real routes, the embedded configs load, the dashboard
is valid JSON. (Metric names are checked against a real scrape in test_health_metrics.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from planwatch.config import loader
from planwatch.web import server

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _unit() -> dict[str, str]:
    keys: dict[str, str] = {}
    for line in (DEPLOY / "systemd" / "planwatch.service").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            keys[key] = value
    return keys


def test_systemd_unit_is_notify_with_watchdog_and_hardening() -> None:
    unit = _unit()
    assert unit["Type"] == "notify" and unit["NotifyAccess"] == "main"
    assert unit["WatchdogSec"] == "60s"
    assert unit["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert unit["RestartPreventExitStatus"] == "2"  # invalid config: restarting cannot help
    for key in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp",
                "RestrictAddressFamilies", "SystemCallFilter", "CapabilityBoundingSet"):
        assert key in unit, key


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    planwatch = Path(sys.executable).with_name("planwatch")
    text = (DEPLOY / "systemd" / "planwatch.service").read_text()
    unit = tmp_path / "planwatch.service"
    unit.write_text(text.replace("/opt/planwatch/bin/planwatch", str(planwatch)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "planwatch.service" not in result.stderr, result.stderr  # unknown keys, bad values


def _manifests() -> list[dict[str, Any]]:
    text = (DEPLOY / "kubernetes" / "planwatch.yaml").read_text()
    return [d for d in yaml.safe_load_all(text) if d]


def _app_routes() -> list[Any]:
    import starlette.applications

    class _Worker:  # create_app reads settings and stores the worker; no live one needed
        settings = loader.load_mapping({}, environ={})

    app = server.create_app(_Worker())  # type: ignore[arg-type]
    assert isinstance(app, starlette.applications.Starlette)
    return list(app.routes)


def test_kubernetes_probes_hit_real_routes() -> None:
    docs = {d["kind"]: d for d in _manifests()}
    assert set(docs) >= {"ConfigMap", "Secret", "Deployment", "Service"}
    spec = docs["Deployment"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
    paths = {getattr(r, "path", None) for r in _app_routes()}
    assert {"/health/live", "/health/ready", "/health", "/metrics"} <= paths
    assert spec["terminationGracePeriodSeconds"] > 10  # planwatch exits within 10 s
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_kubernetes_config_loads() -> None:
    docs = {d["kind"]: d for d in _manifests()}
    raw = yaml.safe_load(docs["ConfigMap"]["data"]["planwatch.yaml"])
    environ = dict(docs["Secret"]["stringData"])
    settings = loader.load_mapping(raw, environ=environ)
    assert settings.http.host == "0.0.0.0" and settings.http.port == 8080
    assert settings.storage_url.reveal() == "sqlite:////var/lib/planwatch/planwatch.db"
    assert settings.targets[0].dsn.reveal().startswith("postgresql://planwatch:change-me@")


def test_dockerfile_environment_is_valid_config() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    env = dict(re.findall(r"(PLANWATCH_[A-Z_]+)=(\S+)", text))
    assert env["PLANWATCH_CONFIG"] == "/etc/planwatch/planwatch.yaml"
    overrides = {k: v for k, v in env.items() if k != "PLANWATCH_CONFIG"}
    settings = loader.load_mapping({}, environ=overrides)
    assert settings.http.host == "0.0.0.0" and settings.logging.format == "json"
    assert "/health/live" in text and "USER planwatch" in text


def dashboard_metric_names() -> set[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "planwatch-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    return set(re.findall(r"\bplanwatch_[a-z_]+", " ".join(exprs)))


def test_grafana_dashboard_is_valid() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "planwatch-dashboard.json").read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p["targets"] and p["datasource"]["uid"] == "${datasource}"
               for p in dashboard["panels"])
    assert len(dashboard_metric_names()) >= 12
