"""The unified loop records its requests and tools into DC_METRICS_DIR (real HTTP, scripted server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("prometheus_client", reason="prometheus_client is not installed")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from dc_impl.metrics import loop_sink  # noqa: E402
from dc_verify.scripted_server import ScriptedServer, load_scenario  # noqa: E402
from tests.dc_impl.unified_loop_kit import Recorder, run_loop, scenario, user  # noqa: E402


def values(prom: Path) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(prom.read_text()) for s in fam.samples}


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch):
    servers: list[ScriptedServer] = []

    def start(scn: Any) -> ScriptedServer:
        server = ScriptedServer(scn).start()
        servers.append(server)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        return server

    yield start
    for s in servers:
        s.stop()


def tool_turn(command: str, tid: str) -> dict[str, Any]:
    return {"blocks": [{"type": "text", "text": "Running it now.", "chunk_size": 4},
                       {"type": "tool_use", "id": tid, "name": "bash", "input": {"command": command}, "chunk_size": 4},
                       {"type": "text", "text": " And some more words after the tool block.", "chunk_size": 3}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 300, "output_tokens": 40,
                                                 "cache_read_input_tokens": 120},
            "event_delay_s": 0.02}


async def test_a_turn_with_a_tool_is_recorded(serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DC_METRICS_DIR", str(tmp_path / "m"))
    serve(scenario(tool_turn("sleep 0.2; echo done", "toolu_01Metrics0000000000001"),
                   {"blocks": [{"type": "text", "text": "Finished.", "chunk_size": 4}], "stop_reason": "end_turn",
                    "usage": {"input_tokens": 400, "output_tokens": 5}}))
    rec = Recorder()
    await run_loop([user("run it")], rec)
    got = values(tmp_path / "m" / "claude_dc_agent.prom")
    assert got[("claude_dc_llm_request_duration_seconds_count", ())] == 2
    assert got[("claude_dc_llm_time_to_first_token_seconds_count", ())] == 2
    assert got[("claude_dc_llm_tokens_total", (("type", "input"),))] == 700
    assert got[("claude_dc_llm_tokens_total", (("type", "output"),))] == 45
    assert got[("claude_dc_llm_tokens_total", (("type", "cache_read"),))] == 120
    assert got[("claude_dc_tool_calls_total", (("outcome", "ok"), ("tool", "bash")))] == 1
    assert got[("claude_dc_tool_duration_seconds_count", (("tool", "bash"),))] == 1
    assert got[("claude_dc_tool_duration_seconds_sum", (("tool", "bash"),))] >= 0.2
    saved = got[("claude_dc_midstream_saved_seconds_total", ())]
    assert 0 < saved <= got[("claude_dc_tool_duration_seconds_sum", (("tool", "bash"),))] + 0.05
    # TTFT is below each request's duration
    assert got[("claude_dc_llm_time_to_first_token_seconds_sum", ())] < got[
        ("claude_dc_llm_request_duration_seconds_sum", ())]
    assert not loop_sink.LOOP_RECORDS_TOOLS.get()  # reset after the loop


async def test_retries_are_counted(serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DC_METRICS_DIR", str(tmp_path))
    serve(load_scenario("overloaded_midstream"))
    await run_loop([user("hello")], Recorder())
    got = values(tmp_path / "claude_dc_agent.prom")
    assert got[("claude_dc_stream_retries_total", ())] >= 1
    assert got[("claude_dc_llm_request_duration_seconds_count", ())] >= 2


async def test_metrics_off_leaves_no_trace(serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DC_METRICS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    serve(scenario({"blocks": [{"type": "text", "text": "hi", "chunk_size": 2}], "stop_reason": "end_turn"}))
    await run_loop([user("hello")], Recorder())
    assert list(tmp_path.iterdir()) == []
    assert loop_sink.with_metrics(None) is None
