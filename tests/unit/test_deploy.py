"""The deployment files in deploy/, checked by the tools of each ecosystem: `systemd-analyze
verify` for the unit, `hadolint` for the Dockerfile, `kubernetes-validate --strict` for the
manifest, the Prometheus Operator's CRD models for the ServiceMonitor; and against what
planwatch really does (probes hit real routes, embedded configs load, UIDs agree, the Grafana
dashboard aggregates correctly across workers). Metric names are checked against a real scrape
in tests/integration/web/test_health_metrics.py; the image is built and run for real in
tests/e2e/test_container.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from cloudcoil.models.prometheus_operator import v1 as monitoring

from planwatch.config import loader
from planwatch.web import server

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICE_LINKS = {  # what Kubernetes injects for a Service named planwatch (enableServiceLinks)
    "PLANWATCH_SERVICE_HOST": "10.96.0.12", "PLANWATCH_SERVICE_PORT": "8080",
    "PLANWATCH_SERVICE_PORT_HTTP": "8080", "PLANWATCH_PORT": "tcp://10.96.0.12:8080",
    "PLANWATCH_PORT_8080_TCP": "tcp://10.96.0.12:8080", "PLANWATCH_PORT_8080_TCP_PROTO": "tcp",
    "PLANWATCH_PORT_8080_TCP_PORT": "8080", "PLANWATCH_PORT_8080_TCP_ADDR": "10.96.0.12",
}


def tool(name: str) -> str:
    """A validator from the venv (PyPI wheels) or the system (Debian); fail loudly if absent:
    scripts/bootstrap installs every one of them."""
    found = Path(sys.executable).with_name(name)
    path = str(found) if found.exists() else shutil.which(name)
    assert path, f"{name} is missing: run scripts/bootstrap"
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


# -- systemd ----------------------------------------------------------------------------------


def _unit() -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / "planwatch.service").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            keys.setdefault(key, []).append(value)
    return keys


def test_systemd_unit_is_notify_with_watchdog_reload_and_hardening() -> None:
    unit = _unit()
    assert unit["Type"] == ["notify"] and unit["NotifyAccess"] == ["main"]
    assert unit["WatchdogSec"] == ["60s"]
    # a reload that waits for the worker's answer, so `systemctl reload` reports a rejection
    assert unit["ExecReload"] == ["/opt/planwatch/bin/planwatch reload --pid $MAINPID --wait"]
    assert unit["RestartPreventExitStatus"] == ["2 64"]  # bad config / usage: no restart loop
    for key in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp",
                "RestrictAddressFamilies", "SystemCallFilter", "CapabilityBoundingSet"):
        assert key in unit, key


def test_systemd_documentation_points_at_the_shipped_operations_page() -> None:
    docs = _unit()["Documentation"]
    assert docs[0] == "file:///usr/share/doc/planwatch/operations.md"
    header = (DEPLOY / "systemd" / "planwatch.service").read_text()
    assert "install -D -m 0644 docs/operations.md /usr/share/doc/planwatch/operations.md" in header
    assert (ROOT / "docs" / "operations.md").is_file()


def _verify(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    planwatch = Path(sys.executable).with_name("planwatch")
    unit = tmp_path / "planwatch.service"
    unit.write_text(text.replace("/opt/planwatch/bin/planwatch", str(planwatch)))
    return run(tool("systemd-analyze"), "verify", str(unit))


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    result = _verify(tmp_path, (DEPLOY / "systemd" / "planwatch.service").read_text())
    assert result.returncode == 0, result.stderr
    assert "planwatch.service" not in result.stderr, result.stderr  # unknown keys, bad values


def test_systemd_analyze_flags_what_this_systemd_does_not_know(tmp_path: Path) -> None:
    """verify exits 0 on an ignored line but names it, so the test above checks stderr; and
    Type=notify-reload (systemd 253+) is one such line on Debian 12's systemd 252."""
    text = (DEPLOY / "systemd" / "planwatch.service").read_text()
    result = _verify(tmp_path, text.replace("WatchdogSec=", "WatchdogSecs="))
    assert "Unknown key 'WatchdogSecs'" in result.stderr
    version = run(tool("systemctl"), "--version").stdout.split()[1]
    if int(version) < 253:
        result = _verify(tmp_path, text.replace("Type=notify\n", "Type=notify-reload\n"))
        assert "Failed to parse service type" in result.stderr


# -- container --------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    result = run(tool("hadolint"), "--failure-threshold", "error", str(DEPLOY / "Dockerfile"))
    assert result.returncode == 0, result.stdout + result.stderr


def _dockerfile_env() -> dict[str, str]:
    return dict(re.findall(r"(PLANWATCH_[A-Z_]+)=(\S+)", (DEPLOY / "Dockerfile").read_text()))


def test_dockerfile_environment_is_valid_config() -> None:
    env = _dockerfile_env()
    assert env["PLANWATCH_CONFIG"] == "/etc/planwatch/planwatch.yaml"
    overrides = {k: v for k, v in env.items() if k != "PLANWATCH_CONFIG"}
    settings = loader.load_mapping({}, environ=overrides)
    assert settings.http.host == "0.0.0.0" and settings.logging.format == "json"
    assert settings.ignored_env == ()


def test_dockerfile_user_health_check_and_manifest_agree() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    (uid,) = re.findall(r"^ARG UID=(\d+)$", text, re.MULTILINE)
    assert 'useradd --system --uid "${UID}"' in text and "USER ${UID}:${UID}" in text
    # the health check asks the worker on the port its configuration names, not a fixed 8080
    assert 'CMD ["planwatch", "probe", "live"]' in text
    pod = _docs()["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(uid)
    assert pod["securityContext"]["runAsGroup"] == int(uid)


# -- Kubernetes -------------------------------------------------------------------------------


def _docs(name: str = "planwatch.yaml") -> dict[str, dict[str, Any]]:
    text = (DEPLOY / "kubernetes" / name).read_text()
    return {d["kind"]: d for d in yaml.safe_load_all(text) if d}


def test_manifest_passes_kubernetes_validate_strict() -> None:
    result = run(tool("kubernetes-validate"), "--strict", "--no-warn",
                 str(DEPLOY / "kubernetes" / "planwatch.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    passed = re.findall(r"passed for resource (\S+)", result.stdout)
    assert sorted(passed) == ["configmap/planwatch-config", "deployment/planwatch",
                              "persistentvolumeclaim/planwatch-data", "secret/planwatch-secrets",
                              "service/planwatch"]


def test_kubernetes_validate_rejects_an_unknown_field(tmp_path: Path) -> None:
    """The validator really is strict: a misspelt field fails (so the test above can fail)."""
    text = (DEPLOY / "kubernetes" / "planwatch.yaml").read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("enableServiceLinks: false", "enableServiceLink: false"))
    assert run(tool("kubernetes-validate"), "--strict", str(broken)).returncode != 0


def test_service_monitor_matches_the_operator_crd_and_the_service() -> None:
    doc = _docs("servicemonitor.yaml")["ServiceMonitor"]
    monitor = monitoring.ServiceMonitor.model_validate(doc)
    # the CRD models ignore unknown keys: a round trip that loses nothing means none were there
    assert monitor.model_dump(by_alias=True, exclude_unset=True, mode="json") == doc
    service = _docs()["Service"]
    assert doc["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert doc["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert doc["spec"]["endpoints"][0]["path"] == "/metrics"


def _app_routes() -> list[Any]:
    import starlette.applications

    class _Worker:  # create_app reads settings and stores the worker; no live one needed
        settings = loader.load_mapping({}, environ={})

    app = server.create_app(_Worker())  # type: ignore[arg-type]
    assert isinstance(app, starlette.applications.Starlette)
    return list(app.routes)


def test_kubernetes_probes_hit_real_routes() -> None:
    docs = _docs()
    spec = docs["Deployment"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
    paths = {getattr(r, "path", None) for r in _app_routes()}
    assert {"/health/live", "/health/ready", "/health", "/metrics"} <= paths
    assert spec["terminationGracePeriodSeconds"] > 10  # planwatch exits within 10 s
    assert spec["enableServiceLinks"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_kubernetes_config_loads_even_with_service_links() -> None:
    docs = _docs()
    raw = yaml.safe_load(docs["ConfigMap"]["data"]["planwatch.yaml"])
    environ = {**docs["Secret"]["stringData"], **SERVICE_LINKS, "PLANWATCH_CONFIG": "/x.yaml"}
    settings = loader.load_mapping(raw, environ=environ)
    assert settings.http.host == "0.0.0.0" and settings.http.port == 8080
    assert settings.storage_url.reveal() == "sqlite:////var/lib/planwatch/planwatch.db"
    assert settings.targets[0].dsn.reveal().startswith("postgresql://planwatch:change-me@")
    assert set(settings.ignored_env) == set(SERVICE_LINKS)  # warned about, never fatal


# -- Grafana ----------------------------------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    return dict(json.loads((DEPLOY / "grafana" / "planwatch-dashboard.json").read_text()))


def _exprs() -> list[str]:
    return [t["expr"] for p in _dashboard()["panels"] for t in p.get("targets", [])]


def dashboard_metric_names() -> set[str]:
    return set(re.findall(r"\bplanwatch_[a-z_]+", " ".join(_exprs())))


def test_grafana_dashboard_is_valid_with_worker_and_target_variables() -> None:
    dashboard = _dashboard()
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p["targets"] and p["datasource"]["uid"] == "${datasource}" for p in panels)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert set(variables) == {"datasource", "worker", "target"}
    assert variables["worker"]["query"]["query"] == "label_values(planwatch_build_info, instance)"
    assert variables["target"]["query"]["query"] == "label_values(planwatch_target_up, target)"
    titles = {p["title"] for p in dashboard["panels"]}
    assert {"Checks", "Alerts and notifications", "Notifications per hour",
            "Check duration p95", "Resident memory"} <= titles
    assert len(dashboard_metric_names()) >= 20


def test_grafana_aggregations_are_right_with_several_workers() -> None:
    for expr in _exprs():
        # every worker exports the same storage-wide alert counts: max over workers, never sum
        if "planwatch_alerts_open" in expr:
            assert "max by (kind, severity, status) (planwatch_alerts_open" in expr, expr
        # histograms: quantiles from buckets summed over workers, keeping `le`
        for metric in re.findall(r"planwatch_[a-z_]+_bucket", expr):
            assert re.search(r"histogram_quantile\(0\.\d+, sum by \(([a-z]+, )?le\) \(rate\("
                             + metric, expr), expr
        assert "_seconds_sum" not in expr and "_seconds_count" not in expr, expr
        assert "$worker" in expr or "$target" in expr or "planwatch_alerts_open" in expr, expr
