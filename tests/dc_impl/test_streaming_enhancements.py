"""StreamingSession metrics, the UI Coalescer and the JSONL event log: synthetic timelines (exact
numbers) and one real turn through the loop and the scripted server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from unified_loop_kit import Recorder, ShellTool, run_loop, scenario, text_turn, user

from dc_impl._compat import ToolResult
from dc_impl.stream.events import (
    Done,
    RequestStarted,
    Retry,
    TextDelta,
    ThinkingDelta,
    ToolFinished,
    ToolInputProgress,
    ToolOutputChunk,
    ToolProgress,
    ToolStarted,
    Usage,
)
from dc_impl.streaming_enhancements import Coalescer, JsonlEventLog, MetricsCollector, StreamingSession
from dc_verify.scripted_server import ScriptedServer


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def text(i: int, index: int = 0, it: int = 0) -> TextDelta:
    return TextDelta(iteration=it, index=index, text=f"<{i}>", t=float(i))


# ------------------------------------------------------------------------------------------- coalescer


def test_coalescer_rate_limits_and_loses_nothing() -> None:
    clock, out = FakeClock(), []
    co = Coalescer(out.append, max_updates_per_s=10, clock=clock)
    sent = []
    for i in range(1000):  # 1000 deltas over one second
        clock.now = i / 1000
        ev = text(i)
        sent.append(ev.text)
        co(ev)
    co.flush()
    assert "".join(e.text for e in out) == "".join(sent)
    assert co.flushes <= 12 and len(out) == co.flushes


def test_coalescer_keeps_order_and_block_boundaries() -> None:
    clock, out = FakeClock(), []
    co = Coalescer(out.append, max_updates_per_s=1, clock=clock)
    co(text(0))  # first delta flushes at once
    co(text(1))
    co(text(2))
    co(ThinkingDelta(iteration=0, index=1, thinking="hm"))
    co(text(3, index=2))
    started = ToolStarted(iteration=0, index=3, tool_use_id="t", name="bash", input={}, mid_stream=True)
    co(started)  # non-delta: pending first, then the event, unthrottled
    co(ToolOutputChunk(tool_use_id="t", name="bash", text="a"))
    co(ToolOutputChunk(tool_use_id="t", name="bash", text="b"))
    co(ToolOutputChunk(tool_use_id="t", name="bash", text="e", stream="stderr"))
    co(ToolProgress(tool_use_id="t", name="str_replace_based_edit_tool", phase="read", elapsed_ms=1.0, done=1,
                    total=9))
    co(ToolProgress(tool_use_id="t", name="str_replace_based_edit_tool", phase="read", elapsed_ms=2.0, done=5,
                    total=9))
    co(Done(stop_reason="end_turn"))
    summary = [(e.kind, getattr(e, "text", getattr(e, "thinking", getattr(e, "done", None)))) for e in out]
    assert summary == [("text_delta", "<0>"), ("text_delta", "<1><2>"), ("thinking_delta", "hm"),
                       ("text_delta", "<3>"), ("tool_started", None), ("tool_output_chunk", "ab"),
                       ("tool_output_chunk", "e"), ("tool_progress", 5), ("done", None)]
    assert out[7].elapsed_ms == 2.0  # progress collapses to the newest report


def test_coalescer_merges_tool_input_progress() -> None:
    out: list[Any] = []
    clock = FakeClock()
    co = Coalescer(out.append, max_updates_per_s=2, clock=clock)
    for i, frag in enumerate(['{"com', 'mand": ', '"ls"}']):
        clock.now = 0.1 * i
        co(ToolInputProgress(iteration=0, index=1, tool_use_id="t", name="bash", partial_json=frag, chars=0))
    co.flush()
    assert "".join(e.partial_json for e in out) == '{"command": "ls"}' and len(out) == 2


async def test_coalescer_timer_flushes_a_quiet_tail() -> None:
    out: list[Any] = []
    co = Coalescer(out.append, max_updates_per_s=20)
    co(text(0))
    co(text(1))
    co(text(2))
    assert [e.text for e in out] == ["<0>"]
    await asyncio.sleep(0.3)
    assert [e.text for e in out] == ["<0>", "<1><2>"]


def test_coalescer_rejects_bad_rate() -> None:
    with pytest.raises(ValueError):
        Coalescer(print, max_updates_per_s=0)


# --------------------------------------------------------------------------------------------- metrics


def test_metrics_from_a_timeline() -> None:
    mc = MetricsCollector()
    finished = ToolResult(output="x")
    for ev in [
        RequestStarted(iteration=0, t=10.0),
        TextDelta(iteration=0, index=0, text="a", t=10.5),
        ThinkingDelta(iteration=0, index=0, thinking="b", t=10.6),
        ToolStarted(iteration=0, index=1, tool_use_id="t1", name="bash", input={}, mid_stream=True, t=11.0),
        ToolStarted(iteration=0, index=2, tool_use_id="t2", name="bash", input={}, mid_stream=True, t=11.5),
        ToolFinished(tool_use_id="t2", name="bash", is_error=False, duration_s=0.2, status="ok", result=finished,
                     t=11.7),
        Usage(iteration=0, stop_reason="tool_use", input_tokens=100, output_tokens=60, thinking_tokens=7, t=12.5),
        ToolFinished(tool_use_id="t1", name="bash", is_error=False, duration_s=2.0, status="ok", result=finished,
                     t=13.0),
        ToolStarted(iteration=0, index=3, tool_use_id="t3", name="bash", input={}, mid_stream=False, t=13.0),
        ToolFinished(tool_use_id="t3", name="bash", is_error=False, duration_s=1.0, status="ok", result=finished,
                     t=14.0),
        ToolOutputChunk(tool_use_id="t3", name="bash", text="x", t=13.5),
        Retry(iteration=1, attempt=1, delay_s=0.1, error="x", error_type="overloaded_error", t=14.1),
        Done(stop_reason="end_turn", outcome="completed", t=15.0),
    ]:
        mc.feed(ev)
    m = mc.metrics
    assert m.ttft_s == pytest.approx(0.5) and m.wall_s == pytest.approx(5.0)
    assert (m.text_deltas, m.thinking_deltas, m.tool_output_chunks, m.requests, m.retries) == (1, 1, 1, 1, 1)
    assert m.tokens_per_s == pytest.approx(60 / 2.0)
    # t1: overlap 12.5-11.0 = 1.5 (< 2.0 duration); t2: clipped at its 0.2 s duration; t3: after the stop
    assert [t.overlap_s for t in m.tools] == pytest.approx([1.5, 0.2, 0.0])
    assert m.time_saved_s == pytest.approx(1.7) and m.tool_latency_s == pytest.approx(3.2)
    assert m.thinking_tokens == 7 and m.outcome == "completed"
    assert json.loads(json.dumps(m.as_dict()))["time_saved_s"] == pytest.approx(1.7)


# --------------------------------------------------------------------------------------- real session


async def test_session_on_a_real_turn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    scn = scenario(
        {"blocks": [{"type": "text", "text": "Working on it now.", "chunk_size": 3},
                    {"type": "tool_use", "id": "toolu_m", "name": "bash", "input": {"command": "sleep 0.3; echo ok"},
                     "pause_after_s": 0.6}],
         "stop_reason": "tool_use"},
        text_turn("All done here."))
    ui: list[Any] = []
    log_path = tmp_path / "events.jsonl"
    session = StreamingSession(ui.append, max_updates_per_s=5, log_path=log_path)
    with ScriptedServer(scn) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        await run_loop([user("go")], Recorder(), tools=[ShellTool()], stream_callback=session)
    session.close()
    assert srv.violations == []
    m = session.last_metrics
    assert m is not None and m.requests == 2 and m.outcome == "completed"
    assert m.ttft_s is not None and m.ttft_s > 0
    assert m.text_deltas == 6 + 2  # every raw delta counted (18 chars / 3, 14 / 8), however the UI was coalesced
    (tool,) = m.tools
    assert tool.mid_stream and 0.25 < tool.overlap_s <= tool.duration_s  # ran during the 0.6 s pause
    assert m.time_saved_s == tool.overlap_s
    kinds = [e.kind for e in ui]
    assert kinds[-2:] == ["metrics", "done"] and ui[-2].values["time_saved_s"] == m.time_saved_s
    texts = [e.text for e in ui if e.kind == "text_delta"]
    assert "".join(texts) == "Working on it now.All done here." and len(texts) < 8
    logged = [json.loads(line) for line in log_path.read_text().splitlines()]
    merged = {"text_delta", "thinking_delta", "tool_input_progress", "tool_output_chunk"}
    assert [d["kind"] for d in logged if d["kind"] not in merged] == [k for k in kinds if k not in merged]
    assert sum(1 for d in logged if d["kind"] == "text_delta") == m.text_deltas  # the log is not coalesced
    finished = next(d for d in logged if d["kind"] == "tool_finished")
    assert finished["result"]["output"] == "ok\n" and finished["result"]["has_image"] is False


def test_jsonl_log_appends_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    with JsonlEventLog(path) as log:
        log(text(1))
    with JsonlEventLog(path) as log:
        log(Done(stop_reason=None, outcome="cancelled"))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["kind"] for r in rows] == ["text_delta", "done"] and rows[1]["outcome"] == "cancelled"
