"""promtool (Debian's prometheus package, installed by scripts/bootstrap) on what planwatch
exposes: Prometheus's own linter, not a re-implementation of its rules."""

from __future__ import annotations

import shutil
import subprocess


def promtool_check_metrics(exposition: str) -> None:
    """`promtool check metrics` on a /metrics body: names, suffixes, help texts, histograms."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: scripts/bootstrap installs Debian's prometheus"
    result = subprocess.run([promtool, "check", "metrics"], input=exposition, text=True,
                            capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
