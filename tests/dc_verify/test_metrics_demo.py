"""make metrics-demo end to end (real node_exporter and Prometheus), and the Grafana dashboard's queries."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dc_impl.metrics.definitions import AGENT, DEPLOY

REPO = Path(__file__).resolve().parents[2]
KNOWN = {d.name.removesuffix("_total") if d.kind == "counter" else d.name for d in AGENT + DEPLOY}


def test_dashboard_queries_use_only_our_metric_names() -> None:
    doc = json.loads((REPO / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    assert len(exprs) >= 12
    for expr in exprs:
        for name in re.findall(r"claude_dc_[a-z_]+", expr):
            base = re.sub(r"_(bucket|sum|count|total)$", "", name)
            assert base in KNOWN or name in KNOWN, f"{name} in {expr!r} is not one of our metrics"


@pytest.mark.slow
def test_metrics_demo_scrapes_agent_and_deploy_metrics() -> None:
    for prog in ("prometheus", "prometheus-node-exporter"):
        if shutil.which(prog) is None:
            pytest.skip(f"{prog} is not installed (Debian package {prog}; .ci/run installs it)")
    proc = subprocess.run([sys.executable, "-m", "dc_verify.demo.metrics", "--no-wait"], cwd=REPO,
                          capture_output=True, text=True, timeout=600, env={"COLUMNS": "200", **__import__("os").environ})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "http://127.0.0.1:" in out and "automatic rollbacks" in out
    assert re.search(r"textfile errors\s+│\s+0\b", out), out[-3000:]
