"""The Prometheus rules for planwatch's own health (deploy/prometheus) pass promtool's checks
and unit tests, use only metrics planwatch exports, and the Kubernetes PrometheusRule carries
the same groups."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from planwatch.web.metrics import Name

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: run scripts/bootstrap (Debian package prometheus)"
    return found


def run(*args: str, cwd: Path = RULES) -> str:
    done = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_rules_are_valid_and_their_unit_tests_pass(promtool: str) -> None:
    assert "SUCCESS: 7 rules found" in run(promtool, "check", "rules", "planwatch-rules.yaml")
    assert "SUCCESS" in run(promtool, "test", "rules", "planwatch-rules.test.yaml")


def test_a_broken_expectation_fails_promtool(promtool: str, tmp_path: Path) -> None:
    tests = (RULES / "planwatch-rules.test.yaml").read_text()
    (tmp_path / "planwatch-rules.yaml").write_text((RULES / "planwatch-rules.yaml").read_text())
    (tmp_path / "t.yaml").write_text(tests.replace("severity: critical, job: planwatch, "
                                                   "instance: \"w1:8080\"}",
                                                   "severity: warning, job: planwatch, "
                                                   "instance: \"w1:8080\"}", 1))
    done = subprocess.run([promtool, "test", "rules", "t.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0 and "PlanwatchStorageDown" in done.stdout + done.stderr


def test_every_metric_in_the_rules_is_one_planwatch_exports() -> None:
    groups = yaml.safe_load((RULES / "planwatch-rules.yaml").read_text())["groups"]
    exprs = " ".join(r["expr"] for g in groups for r in g["rules"])
    used = set(re.findall(r"\bplanwatch_[a-z_]+", exprs))
    exported = {n.value for n in Name} | {f"{n.value}_total" for n in Name}
    assert used and used <= exported, used - exported
    names = {r["alert"] for g in groups for r in g["rules"]}
    assert names == {"PlanwatchStorageDown", "PlanwatchJobFailing", "PlanwatchTargetDown",
                     "PlanwatchScheduleLag", "PlanwatchNotificationsFailing",
                     "PlanwatchWorkerDown", "PlanwatchAbsent"}


def test_the_prometheusrule_carries_the_same_groups(promtool: str, tmp_path: Path) -> None:
    rule = yaml.safe_load((RULES / "planwatch-prometheusrule.yaml").read_text())
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["metadata"]["name"] == "planwatch"
    plain = yaml.safe_load((RULES / "planwatch-rules.yaml").read_text())
    assert rule["spec"]["groups"] == plain["groups"]
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(rule["spec"]))
    assert "SUCCESS: 7 rules found" in run(promtool, "check", "rules", "spec.yaml", cwd=tmp_path)
