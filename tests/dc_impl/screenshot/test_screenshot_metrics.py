"""The streaming computer tool records its capture, settle and encode phases and its own calls into
DC_METRICS_DIR (a private Xvfb, a real Tk application, a real ``*.prom`` file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dc_impl import metrics_hook
from dc_impl.tools.dc_screenshot import ScreenProgress, StreamingComputerTool20250124

pytest.importorskip("prometheus_client", reason="prometheus_client is not installed")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

PHASE = "claude_dc_screenshot_phase_duration_seconds"


def values(prom: Path) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(prom.read_text()) for s in fam.samples}


async def test_a_click_records_capture_settle_and_encode(xapp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DC_METRICS_DIR", str(tmp_path / "m"))
    xapp("--delay-ms", "150")
    events: list[ScreenProgress] = []
    tool = StreamingComputerTool20250124(on_progress=events.append)
    try:
        await tool(action="left_click", coordinate=[620, 480])
        got = values(tmp_path / "m" / "claude_dc_agent.prom")
        for phase in ("capture", "settle", "encode"):
            assert got[(f"{PHASE}_count", (("phase", phase),))] == 1, phase
        settled = next(e for e in events if e.phase == "settled")
        assert got[(f"{PHASE}_sum", (("phase", "settle"),))] == pytest.approx(settled.detail["waited_ms"] / 1000,
                                                                               abs=0.002)
        encoded = next(e for e in events if e.phase == "encoded")
        assert got[(f"{PHASE}_sum", (("phase", "encode"),))] == pytest.approx(encoded.detail["encode_ms"] / 1000,
                                                                               abs=0.002)
        assert got[("claude_dc_tool_calls_total", (("outcome", "ok"), ("tool", "computer")))] == 1

        with metrics_hook.loop_records_tools():  # under the unified loop: phases still, the call by the loop
            await tool(action="screenshot")
        got = values(tmp_path / "m" / "claude_dc_agent.prom")
    finally:
        tool.close()
    assert got[("claude_dc_tool_calls_total", (("outcome", "ok"), ("tool", "computer")))] == 1
    # a plain screenshot has no settle phase; its capture/encode wait for the loop's flush of the call
    assert got[(f"{PHASE}_count", (("phase", "settle"),))] == 1
