"""A running tool's progress as a typed stream event, end to end: a tool's ``on_progress`` calls (the
computer tool's ``ScreenProgress``, the file tool's byte counters) go through the unified loop as
``ToolProgress`` events, the shared reducer keeps the last one, and the terminal chat and the Streamlit
page show it while the tool runs ("waiting for the screen to settle… 0.4 s")."""

from __future__ import annotations

import asyncio
import inspect
import io
from pathlib import Path
from typing import Any, ClassVar

import pytest
from rich.console import Console
from unified_loop_kit import Recorder, run_loop, scenario, text_turn, user

from dc_impl._compat import BaseAnthropicTool, ToolResult
from dc_impl.chat import LiveView, main
from dc_impl.frontends import reducer as rd
from dc_impl.stream.events import ToolFinished, ToolProgress, ToolStarted
from dc_impl.tools.dc_file import StreamingEditTool20250429
from dc_impl.tools.dc_screenshot import ScreenProgress
from dc_verify.scripted_server import ScriptedServer

# what the fake computer tool reports for one click: (phase, elapsed ms, detail), with a pause before each
PHASES: list[tuple[str, float, dict[str, Any]]] = [
    ("action_done", 12.0, {}),
    ("frames_compared", 150.0, {"frames": 3, "changed": True, "quiet_ms": 0.0}),
    ("frames_compared", 420.0, {"frames": 9, "changed": True, "quiet_ms": 270.0}),
    ("settled", 450.0, {"reason": "settled", "frames": 10, "waited_ms": 438.0}),
    ("captured", 470.0, {"width": 1024, "height": 768, "backend": "fake"}),
    ("encoded", 480.0, {"bytes": 2048, "encode_ms": 3.0}),
]


class FakeScreenTool(BaseAnthropicTool):
    """``computer`` with the real tool's progress contract: ``on_progress`` gets ``ScreenProgress``
    objects (sync or async callable, awaited when it returns an awaitable) while an action runs."""

    name: ClassVar[str] = "computer"
    api_type: ClassVar[str] = "computer_20250124"

    def __init__(self, pause_s: float = 0.03) -> None:
        self.on_progress: Any = None
        self.pause_s = pause_s

    def to_params(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.api_type, "display_width_px": 1024, "display_height_px": 768}

    async def __call__(self, *, action: str, **_: Any) -> ToolResult:
        for phase, elapsed_ms, detail in PHASES:
            await asyncio.sleep(self.pause_s)
            if self.on_progress is not None:
                result = self.on_progress(ScreenProgress(action, phase, elapsed_ms, dict(detail)))
                if inspect.isawaitable(result):
                    await result
        return ToolResult(output=f"{action} done")


def click_scenario(name: str = "progress") -> dict[str, Any]:
    return scenario(
        {"blocks": [{"type": "text", "text": "Clicking the button."},
                    {"type": "tool_use", "id": "toolu_click", "name": "computer",
                     "input": {"action": "left_click", "coordinate": [10, 20]}}],
         "stop_reason": "tool_use"},
        {**text_turn("Clicked."), "expect": {"last_user_has_tool_result_for": ["toolu_click"]}}, name=name)


async def test_screen_progress_becomes_tool_progress_events(monkeypatch: pytest.MonkeyPatch) -> None:
    tool = FakeScreenTool()
    own: list[ScreenProgress] = []
    tool.on_progress = own.append  # the tool's own callback: still called, and restored afterwards
    rec = Recorder()
    with ScriptedServer(click_scenario()) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        messages = await run_loop([user("click it")], rec, tools=[tool])
    assert srv.violations == [] and messages[-1]["content"][0]["text"] == "Clicked."
    progress = rec.of("tool_progress")
    assert [(p.phase, p.elapsed_ms) for p in progress] == [(phase, ms) for phase, ms, _ in PHASES]
    assert all(isinstance(p, ToolProgress) and p.tool_use_id == "toolu_click" and p.name == "computer"
               for p in progress)
    assert progress[1].detail == {"action": "left_click", "frames": 3, "changed": True, "quiet_ms": 0.0}
    kinds = [e.kind for e in rec.events]
    assert kinds.index("tool_started") < kinds.index("tool_progress")
    assert len(kinds) - kinds[::-1].index("tool_progress") - 1 < kinds.index("tool_finished")
    assert [p.phase for p in own] == [phase for phase, _, _ in PHASES]
    assert tool.on_progress == own.append, "the tool's own callback is restored when the loop ends"


async def test_file_tool_byte_counters_become_tool_progress(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    big = tmp_path / "big.log"
    big.write_bytes(b"line of a large log file\n" * 140_000)  # 3.5 MB: read in 1 MiB chunks, each reported
    size = big.stat().st_size
    scn = scenario(
        {"blocks": [{"type": "tool_use", "id": "toolu_view", "name": "str_replace_based_edit_tool",
                     "input": {"command": "view", "path": str(big), "view_range": [139_990, -1]}}],
         "stop_reason": "tool_use"},
        {**text_turn("Seen."), "expect": {"last_user_has_tool_result_for": ["toolu_view"]}}, name="file_progress")
    rec = Recorder()
    with ScriptedServer(scn) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        await run_loop([user("view it")], rec, tools=[StreamingEditTool20250429()])
    assert srv.violations == []
    progress = rec.of("tool_progress")
    assert progress and all(p.phase == "read" and p.total == size for p in progress)
    done = [p.done for p in progress]
    assert done == sorted(done) and done[-1] == size
    assert "read " in rd.progress_text(progress[0]) and f"of {size:,} bytes" in rd.progress_text(progress[0])


def test_reducer_keeps_the_last_report_while_the_tool_runs() -> None:
    turn = rd.LiveTurn()
    rd.apply_event(turn, ToolStarted(iteration=0, index=1, tool_use_id="t", name="computer",
                                     input={"action": "left_click"}, mid_stream=True))
    rd.apply_event(turn, ToolProgress(tool_use_id="t", name="computer", phase="frames_compared", elapsed_ms=412.0,
                                      detail={"frames": 8}))
    seg = turn.tool("t")
    assert seg is not None and seg.activity is not None and seg.progress is None
    assert rd.progress_text(seg.activity) == "waiting for the screen to settle… 0.4 s (8 frames compared)"
    rd.apply_event(turn, ToolProgress(tool_use_id="t", name="computer", phase="settled", elapsed_ms=450.0,
                                      detail={"waited_ms": 438.0}))
    assert rd.progress_text(seg.activity) == "screen settled after 0.4 s"
    hostile = ToolProgress(tool_use_id="t", name="computer", phase="\x1b[2Jweird", elapsed_ms=1.0)
    assert rd.progress_text(hostile) == "␛[2Jweird… 0.0 s"  # a tool's phase is shown as safe text


def test_terminal_view_shows_progress_only_while_running() -> None:
    view = LiveView()
    view.update(ToolStarted(iteration=0, index=0, tool_use_id="t", name="computer",
                            input={"action": "left_click"}, mid_stream=False))
    view.update(ToolProgress(tool_use_id="t", name="computer", phase="frames_compared", elapsed_ms=400.0,
                             detail={"frames": 7}))
    buf = io.StringIO()
    Console(file=buf, width=100, color_system=None).print(view.render())
    assert "computer: left_click" in buf.getvalue()
    assert "waiting for the screen to settle… 0.4 s (7 frames compared)" in buf.getvalue()
    view.update(ToolFinished(tool_use_id="t", name="computer", is_error=False, duration_s=0.5, status="ok",
                             result=ToolResult(output="left_click done")))
    buf = io.StringIO()
    Console(file=buf, width=100, color_system=None).print(view.render())
    assert "waiting for the screen" not in buf.getvalue() and "left_click done" in buf.getvalue()


def test_chat_shows_the_screen_wait_live(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real chat turn on a terminal console: the frames drawn while the tool ran show its progress."""
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)  # main() sets it; restored after the test
    buf = io.StringIO()
    console = Console(file=buf, width=120, force_terminal=True, color_system=None)
    with ScriptedServer(click_scenario("chat_progress")) as srv:
        code = main(["--base-url", srv.base_url, "--prompt", "click it", "--max-updates-per-s", "1000"],
                    console=console, tools=[FakeScreenTool(pause_s=0.05)])
    out = buf.getvalue()
    assert code == 0 and srv.violations == [], out[-2000:]
    assert "waiting for the screen to settle… 0.1 s (3 frames compared)" in out
    assert "waiting for the screen to settle… 0.4 s (9 frames compared)" in out
    last_frame = out.rsplit("Clicking the button.", 1)[-1]
    assert "left_click done" in last_frame and "waiting for the screen" not in last_frame


def test_streamlit_live_tool_shows_the_progress_caption() -> None:
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_render_running_tool, default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    captions = [str(c.value) for c in at.caption]
    assert any("waiting for the screen to settle… 0.4 s (9 frames compared)" in c for c in captions), captions


def _render_running_tool() -> None:  # an AppTest script: must be self-contained
    from dc_impl.frontends import reducer as rd
    from dc_impl.frontends.streamlit import render
    from dc_impl.stream.events import ToolProgress, ToolStarted

    turn = rd.LiveTurn()
    rd.apply_event(turn, ToolStarted(iteration=0, index=0, tool_use_id="t", name="computer",
                                     input={"action": "left_click"}, mid_stream=True))
    rd.apply_event(turn, ToolProgress(tool_use_id="t", name="computer", phase="frames_compared", elapsed_ms=420.0,
                                      detail={"frames": 9}))
    render.render_live_tool(turn.segments[0], hide_images=False)
