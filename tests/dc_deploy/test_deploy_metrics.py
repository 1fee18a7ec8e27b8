"""claude_dc_deploy.prom: what is deployed, last success, rollbacks, verify time, toggles."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client", reason="prometheus_client is not installed")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from dc_deploy.deploy_metrics import DeployOutcome, metrics_dir, record  # noqa: E402

TOGGLES = {"use_streaming_bash": True, "use_streaming_file": False}


def values(prom: Path) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(prom.read_text()) for s in fam.samples}


def test_deploy_then_upgrade_then_rollback(tmp_path: Path) -> None:
    record(tmp_path, DeployOutcome("1.0.0", TOGGLES, True, 1_800_000_000.0, verify_s=3.2))
    prom = record(tmp_path, DeployOutcome("1.1.0", {**TOGGLES, "use_streaming_file": True}, True, 1_800_000_100.0,
                                          verify_s=4.0))
    got = values(prom)
    assert got[("claude_dc_deploy_info", (("version", "1.1.0"),))] == 1
    assert ("claude_dc_deploy_info", (("version", "1.0.0"),)) not in got  # one version at a time
    assert got[("claude_dc_feature_enabled", (("feature", "use_streaming_file"),))] == 1
    assert got[("claude_dc_deploy_last_success_timestamp_seconds", ())] == 1_800_000_100.0
    assert got[("claude_dc_deploy_verify_duration_seconds_count", ())] == 2
    # a release that fails verification: restored automatically, the info still names 1.1.0
    record(tmp_path, DeployOutcome("1.1.0", {**TOGGLES, "use_streaming_file": True}, False, 1_800_000_200.0,
                                   verify_s=5.0, rolled_back=True))
    got = values(prom)
    assert got[("claude_dc_deploy_info", (("version", "1.1.0"),))] == 1
    assert got[("claude_dc_deploy_rollbacks_total", ())] == 1
    assert got[("claude_dc_deploy_last_success_timestamp_seconds", ())] == 1_800_000_100.0
    assert got[("claude_dc_deploy_verify_duration_seconds_count", ())] == 3
    # restore to nothing of ours: no info series at all
    got = values(record(tmp_path, DeployOutcome(None, {}, True, 1_800_000_300.0)))
    assert not [k for k in got if k[0] == "claude_dc_deploy_info"]
    if shutil.which("promtool"):
        proc = subprocess.run(["promtool", "check", "metrics"], input=prom.read_bytes(), capture_output=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_metrics_dir_option_beats_the_environment(tmp_path: Path) -> None:
    assert metrics_dir(None, {}) is None
    assert metrics_dir(None, {"DC_METRICS_DIR": str(tmp_path)}) == tmp_path
    assert metrics_dir(tmp_path / "x", {"DC_METRICS_DIR": str(tmp_path)}) == tmp_path / "x"


def test_status_summary_quantiles_and_totals(tmp_path: Path) -> None:
    from dc_deploy.metrics_summary import quantile, render_lines, summarize
    from dc_impl.metrics import Recorder

    assert summarize(tmp_path) is None
    rec = Recorder(tmp_path)
    for i in range(100):  # TTFT 0.01 .. 1.00 s
        rec.request(duration_s=2.0, ttft_s=(i + 1) / 100, usage={"input_tokens": 10, "output_tokens": 1},
                    flush=False)
    rec.tool_call("bash", "ok", 1.5)
    rec.retry(3)
    rec.flush()
    record(tmp_path, DeployOutcome("1.1.0", TOGGLES, False, 1.0, rolled_back=True))
    s = summarize(tmp_path)
    assert s is not None and s["requests"] == 100 and s["tokens"] == {"input": 1000, "output": 100}
    # interpolated inside the bucket as histogram_quantile does: rank 95 of 100, 64 below 0.64, 36 in (0.64, 1.28]
    assert s["ttft_p50_s"] == pytest.approx(0.5, abs=0.1) and s["ttft_p95_s"] == pytest.approx(0.64 + 0.64 * 31 / 36)
    assert s["tools"] == {"bash": {"calls": 1, "seconds": 1.5}} and s["retries"] == 3 and s["rollbacks"] == 1
    text = "\n".join(render_lines(s))
    assert "p50" in text and "bash 1 calls" in text and "rollbacks 1" in text
    assert quantile(0.5, (1.0, 2.0), [0, 0, 0, 0]) is None
    assert quantile(0.5, (1.0, 2.0), [0, 0, 4, 9]) == 2.0  # all in +Inf: the highest bound
