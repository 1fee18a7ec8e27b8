"""The Streamlit app's pure parts (no browser): event reducer, history healing, metrics, turn runner,
the import bootstrap for both layouts, and a turn run through the real loop against the scripted API."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dc_impl._compat import ToolResult
from dc_impl.frontends import reducer as ui
from dc_impl.frontends.streamlit import turn as turn_mod
from dc_impl.frontends.streamlit.runner import CANCELLED, COMPLETED, FAILED, TurnRunner
from dc_impl.stream import events as ev
from dc_impl.streamlit_app import resolve_package

ROOT = Path(__file__).resolve().parents[2]


def feed(*events: Any) -> ui.LiveTurn:
    turn = ui.LiveTurn()
    for e in events:
        ui.apply_event(turn, e)
    return turn


# --- reducer -------------------------------------------------------------------------------------


def test_text_deltas_accumulate_per_block_and_bump_the_version() -> None:
    turn = feed(ev.RequestStarted(iteration=0), ev.TextDelta(iteration=0, index=0, text="Hel"))
    v = turn.version
    ui.apply_event(turn, ev.TextDelta(iteration=0, index=0, text="lo"))
    ui.apply_event(turn, ev.TextDelta(iteration=1, index=0, text="next message"))
    assert turn.version == v + 2
    assert [(s.kind, s.key, s.text) for s in turn.segments] == [
        (ui.TEXT, (0, 0), "Hello"),
        (ui.TEXT, (1, 0), "next message"),
    ]
    assert turn.first_request_t is not None and turn.first_delta_t is not None


def test_thinking_is_closed_when_the_next_block_starts() -> None:
    turn = feed(
        ev.ThinkingDelta(iteration=0, index=0, thinking="let me "),
        ev.ThinkingDelta(iteration=0, index=0, thinking="think"),
    )
    assert turn.segments[0].kind == ui.THINKING and not turn.segments[0].closed
    ui.apply_event(turn, ev.TextDelta(iteration=0, index=1, text="answer"))
    assert turn.segments[0].text == "let me think" and turn.segments[0].closed
    assert not turn.segments[1].closed
    ui.apply_event(turn, ev.Usage(iteration=0, stop_reason="end_turn", output_tokens=5))
    assert turn.segments[1].closed


def test_tool_lifecycle_input_started_output_finished() -> None:
    turn = feed(
        ev.TextDelta(iteration=0, index=0, text="running"),
        ev.ToolInputProgress(iteration=0, index=1, tool_use_id="t1", name="bash", partial_json='{"com', chars=5),
    )
    seg = turn.tool("t1")
    assert seg is not None and seg.status == ui.TOOL_INPUT and seg.input_chars == 5
    assert turn.segments[0].closed, "the text block before a tool_use is complete"
    assert "5 chars" in ui.tool_input_text(seg)
    ui.apply_event(turn, ev.ToolStarted(iteration=0, index=1, tool_use_id="t1", name="bash",
                                        input={"command": "ls"}, mid_stream=True))
    for text, stream in (("line1\n", "stdout"), ("oops\n", "stderr"), ("line2\n", "stdout")):
        ui.apply_event(turn, ev.ToolOutputChunk(tool_use_id="t1", name="bash", text=text, stream=stream))
    ui.apply_event(turn, ev.ToolProgress(tool_use_id="t1", name="bash", phase="read", elapsed_ms=3.0, done=2, total=4))
    seg = turn.tool("t1")
    assert seg is not None
    assert (seg.status, seg.input, seg.mid_stream) == (ui.TOOL_RUNNING, {"command": "ls"}, True)
    assert (seg.output, seg.stderr, seg.progress) == ("line1\nline2\n", "oops\n", (2, 4))
    result = ToolResult(output="line1\nline2\n")
    ui.apply_event(turn, ev.ToolFinished(tool_use_id="t1", name="bash", is_error=False, duration_s=0.5,
                                         status="ok", result=result))
    assert (seg.status, seg.result, seg.duration_s) == ("ok", result, 0.5)
    assert ui.tool_input_text(seg) == 'Tool Use: bash\nInput: {"command": "ls"}'
    assert len([s for s in turn.segments if s.kind == ui.TOOL]) == 1


def test_retry_discards_partial_text_of_that_iteration_and_leaves_a_notice() -> None:
    turn = feed(
        ev.TextDelta(iteration=0, index=0, text="first message, kept"),
        ev.ThinkingDelta(iteration=1, index=0, thinking="partial thinking"),
        ev.TextDelta(iteration=1, index=1, text="partial text that will be"),
        ev.Retry(iteration=1, attempt=0, delay_s=0.5, error="Overloaded", error_type="overloaded_error"),
    )
    assert [s.kind for s in turn.segments] == [ui.TEXT, ui.NOTICE]
    assert turn.segments[0].text == "first message, kept"
    assert "overloaded_error" in turn.segments[1].text and "discarded" in turn.segments[1].text
    ui.apply_event(turn, ev.TextDelta(iteration=1, index=0, text="fresh"))
    assert turn.segments[-1].text == "fresh" and turn.retries == 1


def test_block_stopped_closes_its_segment_and_a_retry_drops_a_partial_tool_input() -> None:
    turn = ui.LiveTurn()
    ui.apply_event(turn, ev.TextDelta(iteration=0, index=0, text="Let me"))
    assert not turn.segments[0].closed
    ui.apply_event(turn, ev.BlockStopped(iteration=0, index=0, block={"type": "text", "text": "Let me"}))
    assert turn.segments[0].closed, "closed by its own content_block_stop, not by a later block"
    ui.apply_event(turn, ev.ToolInputProgress(iteration=0, index=1, tool_use_id="t_cut", name="bash",
                                              partial_json='{"comm', chars=6))
    ui.apply_event(turn, ev.Retry(iteration=0, attempt=0, delay_s=0.1, error="x", error_type="overloaded_error"))
    assert [s.kind for s in turn.segments] == [ui.NOTICE], "the cut tool input is not left 'preparing' forever"


def test_retry_without_discard_keeps_the_text() -> None:
    turn = feed(
        ev.TextDelta(iteration=0, index=0, text="keep me"),
        ev.Retry(iteration=0, attempt=0, delay_s=0.0, error="x", error_type="api_error", discard_partial=False),
    )
    assert [s.text for s in turn.segments][0] == "keep me"
    assert "discarded" not in turn.segments[1].text


def test_unknown_events_are_ignored_and_done_closes_everything() -> None:
    turn = feed(ev.ThinkingDelta(iteration=0, index=0, thinking="hm"))
    v = turn.version
    ui.apply_event(turn, object())
    ui.apply_event(turn, ev.Metrics(values={"ttft_s": 0.25}))
    ui.apply_event(turn, ev.Done(stop_reason=None, outcome="cancelled"))
    assert turn.version == v + 2
    assert turn.segments[0].closed and turn.done is not None and turn.done.outcome == "cancelled"
    assert turn.metrics == {"ttft_s": 0.25}


def test_blocks_and_tool_results_from_upstream_callbacks() -> None:
    turn = ui.LiveTurn()
    ui.apply_block(turn, {"type": "thinking", "thinking": "hmm", "signature": "s"})
    ui.apply_block(turn, {"type": "text", "text": "hello"})
    ui.apply_block(turn, {"type": "tool_use", "id": "t9", "name": "bash", "input": {"command": "true"}})
    ui.apply_tool_result(turn, ToolResult(error="boom"), "t9")
    kinds = [(s.kind, s.closed) for s in turn.segments]
    assert kinds == [(ui.THINKING, True), (ui.TEXT, True), (ui.TOOL, False)]
    seg = turn.tool("t9")
    assert seg is not None and seg.status == "error" and seg.is_error and seg.input == {"command": "true"}
    assert turn.version == 4


def test_snapshot_is_independent_of_later_changes() -> None:
    turn = feed(ev.TextDelta(iteration=0, index=0, text="a"))
    snap = turn.snapshot()
    ui.apply_event(turn, ev.TextDelta(iteration=0, index=0, text="b"))
    assert snap.segments[0].text == "a" and turn.segments[0].text == "ab"
    assert snap.version == turn.version - 1


# --- history healing and metrics -----------------------------------------------------------------


def test_interruption_blocks_heal_a_dangling_tool_use_like_upstream() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "go"}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "ok"},
            {"type": "tool_use", "id": "ta", "name": "bash", "input": {}},
            {"type": "tool_use", "id": "tb", "name": "bash", "input": {}},
        ]},
    ]
    tools: dict[str, Any] = {}
    assert turn_mod.interruption_blocks(messages, tools, interrupted=False) == []
    blocks = turn_mod.interruption_blocks(messages, tools, interrupted=True)
    assert [b.get("tool_use_id") for b in blocks] == ["ta", "tb", None]
    assert all(b["is_error"] for b in blocks[:2])
    assert blocks[-1] == {"type": "text", "text": turn_mod.INTERRUPT_TEXT}
    assert tools["ta"].error == turn_mod.INTERRUPT_TOOL_ERROR
    # already healed by the streaming loop (history ends with the user's results): only the note
    healed = [*messages, {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "ta", "content": "x"}]}]
    assert turn_mod.interruption_blocks(healed, {}, interrupted=True) == [{"type": "text", "text": turn_mod.INTERRUPT_TEXT}]
    turn_mod.add_user_text(healed, "again", [{"type": "text", "text": turn_mod.INTERRUPT_TEXT}])
    assert healed[-1] == {"role": "user", "content": [
        {"type": "text", "text": turn_mod.INTERRUPT_TEXT}, {"type": "text", "text": "again"}]}


class _Finished:
    """Enough of a TurnRunner for the metrics functions."""

    def __init__(self, elapsed: float, outcome: str = COMPLETED, error: BaseException | None = None) -> None:
        self.elapsed_s, self.outcome, self.error = elapsed, outcome, error
        self.cancel_requested, self.done, self.started_at = False, True, 0.0


def test_metrics_are_derived_from_events_unless_the_loop_sent_them() -> None:
    t0 = 100.0
    turn = feed(
        ev.RequestStarted(iteration=0, t=t0),
        ev.TextDelta(iteration=0, index=0, text="x", t=t0 + 0.5),
        ev.ToolStarted(iteration=0, index=1, tool_use_id="t", name="bash", input={}, mid_stream=True, t=t0 + 0.7),
        ev.Usage(iteration=0, stop_reason="tool_use", output_tokens=40, t=t0 + 2.5),
    )
    figures = turn_mod.turn_figures(turn, _Finished(3.0))  # type: ignore[arg-type]
    assert figures["ttft_s"] == pytest.approx(0.5)
    assert figures["tokens_per_s"] == pytest.approx(20.0)
    assert (figures["output_tokens"], figures["api_calls"], figures["mid_stream_tools"]) == (40, 1, 1)
    text = turn_mod.format_figures(figures)
    assert "first token 0.50 s" in text and "20 tokens/s" in text and "started mid-stream" in text
    ui.apply_event(turn, ev.Metrics(values={"ttft_s": 0.2, "tokens_per_s": 99.0, "time_saved_s": 1.25}))
    text = turn_mod.format_figures(turn_mod.turn_figures(turn, _Finished(3.0)))  # type: ignore[arg-type]
    assert "first token 0.20 s" in text and "99 tokens/s" in text and "saved 1.25 s" in text
    note = turn_mod.turn_note(turn, _Finished(3.0, FAILED, RuntimeError("bad")))  # type: ignore[arg-type]
    assert note["outcome"] == FAILED and any("bad" in n for n in note["notices"])


# --- turn runner ---------------------------------------------------------------------------------


def test_runner_completes_and_reports_the_result() -> None:
    async def turn() -> str:
        await asyncio.sleep(0.01)
        return "done"

    runner = TurnRunner(turn).start()
    assert runner.wait(5)
    assert (runner.outcome, runner.result, runner.error) == (COMPLETED, "done", None)
    assert runner.elapsed_s > 0 and not runner.cancel()
    with pytest.raises(RuntimeError):
        runner.start()


def test_runner_cancel_reaches_the_coroutine_from_another_thread() -> None:
    started, cleaned = threading.Event(), threading.Event()

    async def turn() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.set()

    runner = TurnRunner(turn).start()
    assert started.wait(5)
    t0 = time.monotonic()
    assert runner.cancel()
    assert runner.wait(5) and time.monotonic() - t0 < 2
    assert runner.outcome == CANCELLED and cleaned.is_set() and runner.cancel_requested


def test_runner_cancel_before_the_task_exists_and_failures() -> None:
    gate = threading.Event()

    def factory() -> Any:
        gate.wait(5)
        return asyncio.sleep(30)

    runner = TurnRunner(factory).start()
    runner.cancel()  # the thread is still building the coroutine
    gate.set()
    assert runner.wait(5) and runner.outcome == CANCELLED

    async def boom() -> None:
        raise ValueError("nope")

    failed = TurnRunner(boom).start()
    assert failed.wait(5) and failed.outcome == FAILED and isinstance(failed.error, ValueError)


def test_runner_leaves_no_stray_tasks_running() -> None:
    leaked: list[asyncio.Task[Any]] = []

    async def turn() -> None:
        leaked.append(asyncio.get_running_loop().create_task(asyncio.sleep(30)))

    runner = TurnRunner(turn).start()
    assert runner.wait(5) and runner.outcome == COMPLETED
    assert leaked and leaked[0].cancelled()


# --- bootstrap -----------------------------------------------------------------------------------


def test_resolve_package_for_both_layouts(tmp_path: Path) -> None:
    assert resolve_package(ROOT / "dc_impl" / "streamlit_app.py") == (ROOT, "dc_impl")
    host = tmp_path / "computer_use_demo"
    (host / "dc_impl").mkdir(parents=True)
    (host / "__init__.py").write_text("")
    assert resolve_package(host / "dc_impl" / "streamlit_app.py") == (tmp_path, "computer_use_demo.dc_impl")


_PROBE = """
import importlib, json, runpy, sys
ns = runpy.run_path(sys.argv[1])  # as a plain script, but not __main__: bootstrap only
page = importlib.import_module(ns["bootstrap"](__import__("pathlib").Path(sys.argv[1])))
loop, tools = page.load_host()
print(json.dumps({"page": page.__name__, "host": page.host_package_name(), "loop": loop.__name__,
                  "has_sampling_loop": callable(loop.sampling_loop)}))
"""


def _probe(app: Path, cwd: Path, env_extra: dict[str, str]) -> dict[str, Any]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), **env_extra}
    out = subprocess.run([sys.executable, "-c", _PROBE, str(app)], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_bootstrap_imports_the_page_in_a_deployed_tree(tmp_path: Path) -> None:
    from dc_verify.demo.ui import stage_tree

    app = stage_tree(tmp_path / "deployed")
    elsewhere = tmp_path / "elsewhere"  # an unrelated cwd: only the bootstrap makes the tree importable
    elsewhere.mkdir()
    got = _probe(app, elsewhere, {})
    assert got == {"page": "computer_use_demo.dc_impl.frontends.streamlit.app", "host": "computer_use_demo",
                   "loop": "computer_use_demo.loop", "has_sampling_loop": True}


def test_bootstrap_imports_the_page_from_this_checkout(tmp_path: Path) -> None:
    got = _probe(ROOT / "dc_impl" / "streamlit_app.py", tmp_path,
                 {"PYTHONPATH": str(ROOT / "examples"), "DC_UI_HOST_PACKAGE": "computer_use_demo"})
    assert got == {"page": "dc_impl.frontends.streamlit.app", "host": "computer_use_demo", "loop": "computer_use_demo.loop",
                   "has_sampling_loop": True}


# --- a turn through the real loops, against the scripted Messages API -------------------------

SLOW = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"


def _params() -> turn_mod.TurnParams:
    return turn_mod.TurnParams(
        model="claude-sonnet-4-20250514", provider="anthropic", system_prompt_suffix="", api_key="sk-test",
        only_n_most_recent_images=3, max_tokens=4096, tool_version="computer_use_20250429",
        thinking_budget=None, token_efficient_tools_beta=False,
    )


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    from dc_verify.scripted_server import ScriptedServer

    toggles = tmp_path / "feature_toggles.json"
    toggles.write_text(json.dumps({"revision": 1, "use_streaming_bash": False, "use_streaming_file": False,
                                   "use_streaming_screenshot": False, "use_unified_streaming": True,
                                   "use_streaming_thinking": True}))
    monkeypatch.setenv("DC_TOGGLES_FILE", str(toggles))
    monkeypatch.syspath_prepend(str(ROOT / "examples"))

    def start(scenario: dict[str, Any]) -> ScriptedServer:
        srv = ScriptedServer(scenario).start()
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        servers.append(srv)
        return srv

    servers: list[ScriptedServer] = []
    yield start
    for srv in servers:
        srv.stop()


def _job(messages: list[dict[str, Any]], *, streaming: bool) -> turn_mod.TurnJob:
    import computer_use_demo.loop as host_loop  # the stand-in tree, from examples/

    return turn_mod.TurnJob(params=_params(), messages=list(messages), streaming=streaming, stream_thinking=True,
                            original_loop=host_loop.sampling_loop)


USER_HI = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


def test_streamed_turn_fills_the_live_view_and_the_history(scripted: Any) -> None:
    srv = scripted({"name": "t", "turns": [{"event_delay_s": 0.005, "blocks": [
        {"type": "thinking", "thinking": "pondering", "signature": "sig1"},
        {"type": "text", "text": SLOW, "chunk_size": 7}]}]})
    job = _job(USER_HI, streaming=True)
    runner = TurnRunner(job.run).start()
    assert runner.wait(30) and runner.outcome == COMPLETED, runner.error
    snap = job.live.snapshot()
    assert [(s.kind, s.text) for s in snap.segments] == [(ui.THINKING, "pondering"), (ui.TEXT, SLOW)]
    assert snap.version > 5, "text arrived as many deltas"
    assert runner.result[-1]["role"] == "assistant" and len(runner.result) == 2
    assert job.responses and srv.violations == []
    assert "first token" in turn_mod.turn_note(snap, runner)["summary"]


def test_stop_mid_stream_appends_nothing_and_the_next_turn_is_valid(scripted: Any) -> None:
    # The first attempt stalls after two deltas (the user stops it there); a stream the client left is
    # not consumed, so the next request gets attempt 2 of the same turn, served without the stall.
    srv = scripted({"name": "t", "turns": [
        {"event_delay_s": 0.005, "blocks": [{"type": "text", "text": SLOW, "chunk_size": 4}],
         "inject": [{"kind": "stall", "at": "after_delta:2", "seconds": 30, "times": 1}]},
    ]})
    job = _job(USER_HI, streaming=True)
    runner = TurnRunner(job.run).start()
    deadline = time.monotonic() + 20
    while not job.live.snapshot().segments and time.monotonic() < deadline:
        time.sleep(0.02)
    assert runner.cancel() and runner.wait(10)
    assert runner.outcome == CANCELLED
    assert job.messages == USER_HI, "phase (a): nothing is appended for a cancelled stream"
    assert srv.t_message_stop(0) is None
    history = list(job.messages)
    turn_mod.add_user_text(history, "still there?", turn_mod.interruption_blocks(history, {}, interrupted=True))
    nxt = _job(history, streaming=True)
    second = TurnRunner(nxt.run).start()
    assert second.wait(30) and second.outcome == COMPLETED, second.error
    assert srv.violations == [] and second.result[-1]["content"][0]["text"] == SLOW
    assert [r.attempt for r in srv.requests] == [1, 2]


def test_original_loop_renders_whole_blocks(scripted: Any) -> None:
    srv = scripted({"name": "t", "turns": [{"blocks": [{"type": "text", "text": "block level"}]}]})
    job = _job(USER_HI, streaming=False)
    runner = TurnRunner(job.run).start()
    assert runner.wait(30) and runner.outcome == COMPLETED, runner.error
    snap = job.live.snapshot()
    assert [(s.kind, s.text, s.closed) for s in snap.segments] == [(ui.TEXT, "block level", True)]
    assert snap.version == 1 and srv.requests[0].body.get("stream") is not True


def test_retry_replaces_the_discarded_partial_text_with_a_notice(scripted: Any) -> None:
    srv = scripted({"name": "t", "turns": [{"event_delay_s": 0.005, "blocks": [
        {"type": "text", "text": SLOW, "chunk_size": 5}],
        "inject": [{"kind": "error", "at": "after_delta:3", "error_type": "overloaded_error", "times": 1}]}]})
    job = _job(USER_HI, streaming=True)
    runner = TurnRunner(job.run).start()
    assert runner.wait(30) and runner.outcome == COMPLETED, runner.error
    snap = job.live.snapshot()
    assert [s.kind for s in snap.segments] == [ui.NOTICE, ui.TEXT]
    assert "overloaded_error" in snap.segments[0].text and snap.segments[1].text == SLOW
    note = turn_mod.turn_note(snap, runner)
    assert note["notices"] == [snap.segments[0].text]
    assert [r.attempt for r in srv.requests] == [1, 2] and srv.violations == []


# --- issue 12.4/12.5: what the page keeps of tool and model text is safe and bounded ------------


def test_streamed_tool_output_is_kept_bounded_with_the_omitted_count() -> None:
    from dc_impl.frontends.streamlit import live  # needs streamlit only for its import

    turn = feed(ev.ToolStarted(iteration=0, index=0, tool_use_id="t", name="bash", input={"command": "seq"},
                               mid_stream=False))
    lines = [f"{i}\n" for i in range(1, 2_000_001)]
    text = "".join(lines)
    step = 65_536
    signatures = []
    for i in range(0, len(text), step):
        ui.apply_event(turn, ev.ToolOutputChunk(tool_use_id="t", name="bash", text=text[i:i + step]))
        signatures.append(live.signature(turn.snapshot().segments[0], stream_thinking=True))
    seg = turn.segments[0]
    assert seg.output_chars == len(text) and seg.out_buf is not None
    assert len(seg.out_buf.head) + len(seg.out_buf.tail) == ui.OUTPUT_HEAD_CHARS + ui.OUTPUT_TAIL_CHARS
    assert len(seg.output) < ui.OUTPUT_HEAD_CHARS + ui.OUTPUT_TAIL_CHARS + 100
    assert seg.output.startswith("1\n2\n3\n") and seg.output.endswith("1999999\n2000000\n")
    note = re.search(r"\n\[… ([\d,]+) lines \(([\d,]+) characters\) omitted …\]\n", seg.output)
    assert note is not None and seg.output.count("[…") == 1
    omitted_lines, omitted_chars = (int(g.replace(",", "")) for g in note.groups())
    assert omitted_chars == len(text) - ui.OUTPUT_HEAD_CHARS - ui.OUTPUT_TAIL_CHARS
    assert omitted_lines == 2_000_000 - text[:ui.OUTPUT_HEAD_CHARS].count("\n") - text[-ui.OUTPUT_TAIL_CHARS:].count("\n")
    assert len(set(signatures)) == len(signatures), "every chunk redraws, though the shown size stays the same"


def test_model_and_tool_text_is_stored_safe() -> None:
    turn = feed(ev.TextDelta(iteration=0, index=0, text="a\x1b[2Jb"), ev.ThinkingDelta(iteration=0, index=1, thinking="\u202ex"),
                ev.ToolStarted(iteration=0, index=2, tool_use_id="t", name="bash", input={"command": "x\u009b"},
                               mid_stream=False),
                ev.ToolOutputChunk(tool_use_id="t", name="bash", text="\x1b]0;t\x07", stream="stderr"))
    text, thinking, tool = turn.segments
    assert (text.text, thinking.text, tool.stderr) == ("a␛[2Jb", "<U+202E>x", "␛]0;t␇")
    assert ui.tool_input_text(tool) == 'Tool Use: bash\nInput: {"command": "x<U+009B>"}'
    upstream = ui.LiveTurn()
    ui.apply_block(upstream, {"type": "text", "text": "\x1b[31mred"})
    assert upstream.segments[0].text == "␛[31mred"
