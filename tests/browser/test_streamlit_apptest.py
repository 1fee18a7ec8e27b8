"""The two Streamlit apps under Streamlit's own headless test runner (``streamlit.testing.v1.AppTest``),
without a browser: the stand-in upstream ``streamlit.py`` (block-level rendering, the "before" of the
demo) and our app's settings surface; plus ``LiveView``'s redraw bookkeeping with recording
placeholders. Both apps talk to the scripted Messages API over real HTTP on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

if importlib.util.find_spec("streamlit") is None:
    pytest.skip("streamlit is not installed (pip install streamlit)", allow_module_level=True)

from streamlit.testing.v1 import AppTest  # noqa: E402

from dc_impl.frontends import reducer as ui  # noqa: E402
from dc_impl.frontends.streamlit import live  # noqa: E402
from dc_impl.stream import events as ev  # noqa: E402
from dc_verify.scripted_server import ScriptedServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_KEYS = {
    "messages", "api_key", "provider", "provider_radio", "model", "auth_validated", "responses", "tools",
    "only_n_most_recent_images", "custom_system_prompt", "hide_images", "token_efficient_tools_beta",
    "in_sampling_loop", "tool_versions", "output_tokens", "max_output_tokens", "thinking_budget",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    monkeypatch.setenv("HOME", str(tmp_path))  # upstream keeps the key in ~/.anthropic
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-apptest")
    monkeypatch.setenv("HIDE_WARNING", "1")
    servers: list[ScriptedServer] = []

    def serve(scenario: dict[str, Any]) -> ScriptedServer:
        srv = ScriptedServer(scenario).start()
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        servers.append(srv)
        return srv

    yield serve
    for srv in servers:
        srv.stop()


def test_upstream_standin_renders_whole_blocks_after_the_turn(env: Any) -> None:
    srv = env({"name": "standin", "turns": [
        {"blocks": [{"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_apt", "name": "bash", "input": {"command": "echo standin-ok"}}]},
        {"blocks": [{"type": "text", "text": "All done."}]},
    ]})
    at = AppTest.from_file(str(ROOT / "examples" / "computer_use_demo" / "streamlit.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert [k for k in sorted(UPSTREAM_KEYS) if k not in at.session_state] == []
    labels = {w.label for w in at.sidebar.text_input} | {w.label for w in at.sidebar.number_input}
    assert {"Model", "Anthropic API Key", "Only send N most recent images", "Thinking Budget"} <= labels
    at.chat_input[0].set_value("run echo").run()
    assert not at.exception
    shown = [m.markdown[0].value if m.markdown else m.code[0].value for m in at.chat_message]
    assert shown[0] == "run echo"
    assert "Let me check." in shown and "All done." in shown
    assert any("standin-ok" in s for s in shown), shown  # the tool result, rendered once it finished
    assert srv.violations == [] and all(r.body.get("stream") is not True for r in srv.requests)
    assert at.session_state["in_sampling_loop"] is False


def test_our_app_keeps_upstreams_settings_and_state(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    env({"name": "idle", "turns": []})
    monkeypatch.setenv("DC_UI_HOST_PACKAGE", "computer_use_demo")
    at = AppTest.from_file(str(ROOT / "dc_impl" / "streamlit_app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert [k for k in sorted(UPSTREAM_KEYS) if k not in at.session_state] == []
    assert [r.label for r in at.sidebar.radio] == ["API Provider", "Tool Versions"]
    assert {c.label for c in at.sidebar.checkbox} == {
        "Hide screenshots", "Enable token-efficient tools beta", "Thinking Enabled"}
    assert any("use_unified_streaming" in c.value for c in at.sidebar.caption)
    assert [b.label for b in at.sidebar.button] == ["Reset"]
    at.sidebar.text_input(key="model").set_value("claude-3-7-sonnet-20250219").run()
    assert at.session_state["tool_versions"] == "computer_use_20250124"


class _Recorder:
    """Stands in for an ``st.empty()`` placeholder / container and records what is drawn."""

    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log

    def empty(self) -> _Recorder:
        self.log.append(("empty", None))
        return _Recorder(self.log)

    def container(self) -> _Recorder:
        return self

    def __enter__(self) -> _Recorder:  # ``with slot.container():`` around a tool's drawing
        self.log.append(("container", None))
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def expander(self, label: str, expanded: bool = False) -> _Recorder:
        self.log.append(("expander", label))
        return self

    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: self.log.append((name, a[0] if a else None))


def test_live_view_redraws_only_changed_segments_and_clears_discarded_ones() -> None:
    log: list[tuple[str, Any]] = []
    view = live.LiveView(_Recorder(log), hide_images=False, stream_thinking=True)
    turn = ui.LiveTurn()
    for e in (ev.ThinkingDelta(iteration=0, index=0, thinking="hm"), ev.TextDelta(iteration=0, index=1, text="Hi")):
        ui.apply_event(turn, e)
    view.update(turn.snapshot())
    assert ("expander", "Thinking") in log and ("markdown", "Hi") in log
    drawn = view.redraws
    view.update(turn.snapshot())
    assert view.redraws == drawn, "an unchanged snapshot draws nothing"
    ui.apply_event(turn, ev.TextDelta(iteration=0, index=1, text=" there"))
    log.clear()
    view.update(turn.snapshot())
    assert log == [("markdown", "Hi there")] and view.redraws == drawn + 1
    ui.apply_event(turn, ev.Retry(iteration=0, attempt=0, delay_s=0.1, error="x", error_type="overloaded_error"))
    log.clear()
    view.update(turn.snapshot())
    assert log.count(("empty", None)) >= 2, "both discarded slots were cleared"
    assert any(name == "info" for name, _ in log) and set(view.slots) == {("retry", 0, 0)}


def test_hidden_thinking_redraws_only_when_complete() -> None:
    seg = ui.Segment(kind=ui.THINKING, key=(0, 0), text="x" * 50)
    grown = ui.Segment(kind=ui.THINKING, key=(0, 0), text="x" * 60)
    assert live.signature(seg, stream_thinking=False) == live.signature(grown, stream_thinking=False)
    assert live.signature(seg, stream_thinking=True) != live.signature(grown, stream_thinking=True)
    grown.closed = True
    assert live.signature(seg, stream_thinking=False) != live.signature(grown, stream_thinking=False)


# --- issue 12.4: tool and model text is shown as text, never as markdown/HTML or control codes ------

HOSTILE = ("\x1b[2J\x1b]0;pwned\x07 **bold** <b>html</b> [link](http://example.invalid/a) "
           "![img](http://example.invalid/x.png) ``` fence-break \u202eexe.txt\u009b")
HOSTILE_SHOWN = ("␛[2J␛]0;pwned␇ **bold** <b>html</b> [link](http://example.invalid/a) "
                 "![img](http://example.invalid/x.png) ``` fence-break <U+202E>exe.txt<U+009B>")


def _render_every_tool_path() -> None:  # an AppTest script: must be self-contained
    from dc_impl._compat import CLIResult, ToolResult
    from dc_impl.frontends import reducer as ui
    from dc_impl.frontends.streamlit import render
    from dc_impl.stream import events as ev

    hostile = ("\x1b[2J\x1b]0;pwned\x07 **bold** <b>html</b> [link](http://example.invalid/a) "
               "![img](http://example.invalid/x.png) ``` fence-break \u202eexe.txt\u009b")
    render.render_tool_result(ToolResult(output="plain:" + hostile, error="error:" + hostile), hide_images=False)
    render.render_tool_result(CLIResult(output="cli:" + hostile), hide_images=False)
    block = {"type": "tool_result", "tool_use_id": "x", "content": [{"type": "text", "text": "block:" + hostile}]}
    render.render_message(render.TOOL, render._result_from_block(block), hide_images=False, thinking_expander=True)
    turn = ui.LiveTurn()
    ui.apply_event(turn, ev.ToolStarted(iteration=0, index=0, tool_use_id="t", name="bash",
                                        input={"command": "cmd:" + hostile}, mid_stream=False))
    ui.apply_event(turn, ev.ToolOutputChunk(tool_use_id="t", name="bash", text="live:" + hostile))
    ui.apply_event(turn, ev.ToolOutputChunk(tool_use_id="t", name="bash", text="stderr:" + hostile, stream="stderr"))
    render.render_live_tool(turn.segments[0], hide_images=False)


def _texts(at: Any, kind: str) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def _assert_only_as_text(at: Any, labels: list[str]) -> None:
    codes = _texts(at, "code")
    for label in labels:
        assert any(label + HOSTILE_SHOWN in c for c in codes), (label, codes)
    for kind in ("markdown", "caption", "error", "info", "warning"):
        for value in _texts(at, kind):
            assert "pwned" not in value or kind == "error", (kind, value)  # no tool text as markdown
    for value in _texts(at, "error"):
        if "pwned" in value:  # a tool error: one fenced code block that the text cannot close
            fence = value.split("\n", 1)[0]
            assert set(fence) == {"`"} and len(fence) > 3 and value.rstrip().endswith("\n" + fence), value
            assert HOSTILE_SHOWN in value
    everything = "".join(codes + _texts(at, "markdown") + _texts(at, "error"))
    assert "\x1b" not in everything and "\u202e" not in everything and "\u009b" not in everything


def test_every_tool_output_path_renders_as_plain_text() -> None:
    at = AppTest.from_function(_render_every_tool_path, default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    _assert_only_as_text(at, ["plain:", "cli:", "block:", "live:", "stderr:"])
    tool_use = [c for c in _texts(at, "code") if c.startswith("Tool Use: bash")]  # the input, as JSON
    assert len(tool_use) == 1 and '"cmd:\\u001b[2J\\u001b]0;pwned\\u0007 **bold**' in tool_use[0]
    assert "<U+202E>exe.txt<U+009B>" in tool_use[0]


def test_our_app_renders_hostile_tool_output_as_text(env: Any, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    toggles = tmp_path / "feature_toggles.json"
    toggles.write_text(json.dumps({"revision": 1, "use_streaming_bash": True, "use_streaming_file": True,
                                   "use_streaming_screenshot": False, "use_unified_streaming": True,
                                   "use_streaming_thinking": True}))
    monkeypatch.setenv("DC_TOGGLES_FILE", str(toggles))
    monkeypatch.setenv("DC_UI_HOST_PACKAGE", "computer_use_demo")
    script = tmp_path / "hostile.sh"
    script.write_bytes(("printf '%s\\n' " + shlex.quote(HOSTILE) + "; printf '%s\\n' "
                        + shlex.quote(HOSTILE) + " >&2").encode())
    srv = env({"name": "hostile", "turns": [
        {"blocks": [{"type": "text", "text": "Model \x1b[2J text."},
                    {"type": "tool_use", "id": "toolu_h", "name": "bash", "input": {"command": f"bash {script}"}}],
         "stop_reason": "tool_use"},
        {"blocks": [{"type": "text", "text": "Done."}], "stop_reason": "end_turn"},
    ]})
    at = AppTest.from_file(str(ROOT / "dc_impl" / "streamlit_app.py"), default_timeout=60)
    at.run()
    at.chat_input[0].set_value("print it").run()
    assert not at.exception, at.exception
    assert srv.violations == [] and len(srv.requests) == 2
    assert any("Model ␛[2J text." in m for m in _texts(at, "markdown"))
    codes = _texts(at, "code")
    assert any(HOSTILE_SHOWN in c for c in codes), codes
    _assert_only_as_text(at, [""])


def test_live_view_redraws_a_running_tool_on_each_progress_report() -> None:
    log: list[tuple[str, Any]] = []
    view = live.LiveView(_Recorder(log), hide_images=False, stream_thinking=True)
    turn = ui.LiveTurn()
    ui.apply_event(turn, ev.ToolStarted(iteration=0, index=0, tool_use_id="t", name="computer",
                                        input={"action": "left_click"}, mid_stream=True))
    view.update(turn.snapshot())
    drawn = view.redraws
    ui.apply_event(turn, ev.ToolProgress(tool_use_id="t", name="computer", phase="frames_compared", elapsed_ms=150.0,
                                         detail={"frames": 3}))
    log.clear()
    view.update(turn.snapshot())
    assert view.redraws == drawn + 1 and ("container", None) in log, "the tool (and its progress line) is redrawn"
    view.update(turn.snapshot())
    assert view.redraws == drawn + 1, "no new report, no redraw"
