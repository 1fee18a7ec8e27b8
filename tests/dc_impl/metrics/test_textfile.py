"""The textfile metrics: several real processes into one directory, atomic files, promtool, node_exporter."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client", reason="prometheus_client is not installed (pip install '.[metrics]')")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from dc_impl.metrics import Recorder, get_recorder  # noqa: E402
from dc_impl.metrics.definitions import AGENT, MAX_TOOL_NAMES  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]

WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from dc_impl.metrics import Recorder
    rec = Recorder(Path(sys.argv[1]))
    for i in range(int(sys.argv[2])):
        rec.request(duration_s=0.5 + (i % 3), ttft_s=0.05, usage={"input_tokens": 10, "output_tokens": 2,
                    "cache_read_input_tokens": 1, "cache_creation_input_tokens": 0})
        rec.retry()
        rec.midstream_saved(0.25)
        rec.screenshot("settle", 0.3)
        rec.tool_call("bash" if i % 2 else "computer", "ok" if i % 5 else "error", 0.1)
""")


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(path.read_text()):
        for s in fam.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def run_writers(directory: Path, procs: int, each: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [subprocess.Popen([sys.executable, "-c", WRITER, str(directory), str(each)], env=env)
                for _ in range(procs)]
    for child in children:
        assert child.wait(timeout=120) == 0


def test_processes_add_up_in_one_file_that_stays_after_they_exit(tmp_path: Path) -> None:
    run_writers(tmp_path, procs=4, each=25)
    assert [p.name for p in tmp_path.glob("*.prom")] == ["claude_dc_agent.prom"]
    got = samples(tmp_path / "claude_dc_agent.prom")
    assert got[("claude_dc_llm_tokens_total", (("type", "input"),))] == 4 * 25 * 10
    assert got[("claude_dc_llm_tokens_total", (("type", "cache_read"),))] == 100
    assert ("claude_dc_llm_tokens_total", (("type", "cache_creation"),)) not in got  # zero usage: no series
    assert got[("claude_dc_llm_request_duration_seconds_count", ())] == 100
    assert got[("claude_dc_llm_time_to_first_token_seconds_bucket", (("le", "0.08"),))] == 100
    assert got[("claude_dc_stream_retries_total", ())] == 100
    assert got[("claude_dc_midstream_saved_seconds_total", ())] == pytest.approx(25.0)
    # per process: i = 0..24; computer on even i, error when i % 5 == 0 -> computer errors at 0, 10, 20
    assert got[("claude_dc_tool_calls_total", (("outcome", "error"), ("tool", "computer")))] == 4 * 3
    assert got[("claude_dc_tool_calls_total", (("outcome", "ok"), ("tool", "bash")))] == 4 * 10
    calls = sum(v for (n, _l), v in got.items() if n == "claude_dc_tool_calls_total")
    assert calls == 100
    assert got[("claude_dc_screenshot_phase_duration_seconds_count", (("phase", "settle"),))] == 100


def test_promtool_accepts_the_file(tmp_path: Path) -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (Debian package prometheus; .ci/run installs it)")
    run_writers(tmp_path, procs=1, each=3)
    proc = subprocess.run(["promtool", "check", "metrics"], input=(tmp_path / "claude_dc_agent.prom").read_bytes(),
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_reader_never_sees_a_torn_file(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), "150"], env=env) for _ in range(3)]
    reads = 0
    prom = tmp_path / "claude_dc_agent.prom"
    while any(c.poll() is None for c in children):
        if prom.exists():
            text = prom.read_text()
            fams = {f.name for f in text_string_to_metric_families(text)}
            assert "claude_dc_llm_tokens" in fams and text.endswith("\n")
            reads += 1
    assert all(c.wait() == 0 for c in children) and reads > 10


def test_unset_dir_records_nothing_and_costs_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DC_METRICS_DIR", raising=False)
    rec = get_recorder()
    assert rec.enabled is False and rec.store is None
    rec.request(duration_s=1.0, usage={"input_tokens": 5})
    rec.tool_call("bash", "ok", 0.1)
    monkeypatch.chdir(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_dir_disables_metrics_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    rec = Recorder(blocker / "metrics")
    for _ in range(3):
        rec.tool_call("bash", "ok", 0.1)  # must not raise
    assert rec.enabled is False
    assert [r.message for r in caplog.records].count(next(r.message for r in caplog.records)) == 1
    assert "metrics disabled" in caplog.records[0].message


def test_missing_prometheus_client_means_no_metrics_and_one_warning(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import logging, sys
        from pathlib import Path
        sys.modules["prometheus_client"] = None
        logging.basicConfig(format="LOG %(message)s")
        from dc_impl.metrics import Recorder
        for _ in range(2):
            r = Recorder(Path(sys.argv[1]))
            r.tool_call("bash", "ok", 0.1)
        print("enabled", r.enabled)
    """)
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert proc.returncode == 0 and "enabled False" in proc.stdout, proc.stderr
    assert proc.stderr.count("LOG ") == 1 and "prometheus_client is not installed" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_tool_label_cardinality_is_bounded(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    for i in range(100):
        rec.tool_call(f"tool_{i}", "ok", 0.01, flush=False)
    rec.tool_call("bad name; drop table", "weird", 0.01)
    got = samples(tmp_path / "claude_dc_agent.prom")
    tools = {dict(labels)["tool"] for (name, labels) in got if name == "claude_dc_tool_calls_total"}
    assert len(tools) == MAX_TOOL_NAMES + 1 and "other" in tools
    outcomes = {dict(labels)["outcome"] for (name, labels) in got if name == "claude_dc_tool_calls_total"}
    assert outcomes == {"ok", "error"}


def test_a_corrupt_state_file_is_set_aside_and_counting_restarts(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    rec.retry()
    rec.flush()
    (tmp_path / ".claude_dc_agent.state.json").write_text("{")
    rec.retry(2)
    rec.flush()
    assert samples(tmp_path / "claude_dc_agent.prom")[("claude_dc_stream_retries_total", ())] == 2
    assert (tmp_path / ".claude_dc_agent.state.json.corrupt").read_text() == "{"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_node_exporter_textfile_collector_scrapes_without_error(tmp_path: Path) -> None:
    exporter = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if exporter is None:
        pytest.skip("node_exporter is not installed (Debian package prometheus-node-exporter; .ci/run installs it)")
    run_writers(tmp_path, procs=2, each=5)
    port = _free_port()
    proc = subprocess.Popen([exporter, "--collector.disable-defaults", "--collector.textfile",
                             f"--collector.textfile.directory={tmp_path}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        body = ""
        for _ in range(100):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert "node_textfile_scrape_error 0" in body, body[-2000:]
        assert 'claude_dc_llm_tokens_total{type="input"} 100' in body
        for d in AGENT:
            assert f"# TYPE {d.name.removesuffix('_total') if d.kind == 'counter' else d.name}" in body or d.name in body
    finally:
        proc.terminate()
        proc.wait(timeout=10)
