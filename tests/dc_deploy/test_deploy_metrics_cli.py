"""The installer writes claude_dc_deploy.prom: a deploy, a flip, and a release that fails verification."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client", reason="prometheus_client is not installed")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from dc_deploy.build import build_manifest  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def values(prom: Path) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(prom.read_text()) for s in fam.samples}


def cli(root: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(root / "integrate_streaming.py"), *args], capture_output=True,
                          text=True, env={**env, "DC_PROJECT_ROOT": str(root)}, timeout=300)


def test_deploy_flip_and_failed_verification_are_recorded(tmp_path: Path, snapshot: Path, manifest: Path,
                                                           target: Path) -> None:
    broken = tmp_path / "broken-project"
    shutil.copytree(snapshot, broken)
    with open(broken / "dc_impl" / "tools" / "dc_bash.py", "a") as fh:  # a release that cannot even import
        fh.write("\nraise ImportError('broken release')\n")
    broken_manifest = broken / "manifests" / "streaming-9.9.9.json"
    build_manifest(broken, "9.9.9", broken_manifest, created_at="2026-11-28T00:00:00Z", project_commit=None)
    metrics = tmp_path / "metrics"
    env = {**os.environ, "DC_METRICS_DIR": str(metrics), "PYTHONPATH": str(REPO)}
    common = ["--target", str(target), "--backup-dir", str(tmp_path / "backups")]
    proc = cli(snapshot, "--integrate", "--bash-tool", "--enable-streaming-bash=true", "--manifest", str(manifest),
               *common, env=env)
    assert proc.returncode == 0, proc.stderr
    prom = metrics / "claude_dc_deploy.prom"
    got = values(prom)
    version = next(dict(k[1])["version"] for k in got if k[0] == "claude_dc_deploy_info")
    assert got[("claude_dc_feature_enabled", (("feature", "use_streaming_bash"),))] == 1
    assert got[("claude_dc_deploy_verify_duration_seconds_count", ())] == 1
    first_success = got[("claude_dc_deploy_last_success_timestamp_seconds", ())]
    # --metrics-dir beats the environment
    other = tmp_path / "other"
    assert cli(snapshot, "--enable-streaming-bash=false", "--metrics-dir", str(other), *common,
               env=env).returncode == 0
    assert values(other / "claude_dc_deploy.prom")[("claude_dc_feature_enabled",
                                                   (("feature", "use_streaming_bash"),))] == 0
    assert cli(snapshot, "--enable-streaming-bash=true", *common, env=env).returncode == 0
    first_success = values(prom)[("claude_dc_deploy_last_success_timestamp_seconds", ())]
    # a broken release: verification fails, the tree is restored, the info still names what is deployed
    proc = cli(broken, "--integrate", "--bash-tool", "--enable-streaming-bash=true", "--manifest",
               str(broken_manifest), *common, env=env)
    assert proc.returncode == 3, proc.stderr
    got = values(prom)
    assert got[("claude_dc_deploy_rollbacks_total", ())] == 1
    assert got[("claude_dc_deploy_info", (("version", version),))] == 1
    assert not [k for k in got if k[0] == "claude_dc_deploy_info" and dict(k[1])["version"] == "9.9.9"]
    assert got[("claude_dc_deploy_last_success_timestamp_seconds", ())] == first_success
    # --status summarises what it finds there (agent metrics from a process using the same directory)
    from dc_impl.metrics import Recorder

    rec = Recorder(metrics)
    rec.request(duration_s=1.0, ttft_s=0.2, usage={"input_tokens": 50, "output_tokens": 7})
    rec.tool_call("bash", "ok", 0.5)
    doc = __import__("json").loads(cli(snapshot, "--status", "--json", *common, env=env).stdout)
    assert doc["metrics"]["rollbacks"] == 1 and doc["metrics"]["tokens"] == {"input": 50, "output": 7}
    assert doc["metrics"]["tools"]["bash"]["calls"] == 1 and doc["metrics"]["ttft_p50_s"] is not None
    text = cli(snapshot, "--status", *common, env=env).stdout
    assert "time to first token p50" in text and "automatic rollbacks 1" in text
    no_metrics = {k: v for k, v in env.items() if k != "DC_METRICS_DIR"}
    assert __import__("json").loads(cli(snapshot, "--status", "--json", *common, env=no_metrics).stdout)["metrics"] is None
