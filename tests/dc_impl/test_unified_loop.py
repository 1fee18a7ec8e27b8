"""The unified streaming loop end to end: real HTTP (scripted server), the real AsyncAnthropic client,
real subprocess tools. Every request the loop sends is validated by the server like the real API."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest
from unified_loop_kit import (
    Recorder,
    result_text,
    run_loop,
    scenario,
    text_turn,
    tool_results,
    user,
)

from dc_impl.stream.history import RetryPolicy, ThinkingConfigError
from dc_impl.stream.runner import resolve_tool_set
from dc_impl.toggles import ToggleState
from dc_verify.scripted_server import ScriptedServer, load_scenario


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch):
    servers: list[ScriptedServer] = []

    def start(scn: Any, **kw: Any) -> ScriptedServer:
        srv = ScriptedServer(scn, **kw).start()
        servers.append(srv)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        return srv

    yield start
    for srv in servers:
        srv.stop()


def bash_block(tid: str, command: str, **extra: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": tid, "name": "bash", "input": {"command": command}, "chunk_size": 6, **extra}


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


# ------------------------------------------------------------------------------------------ happy paths


async def test_text_only(serve) -> None:
    srv = serve(load_scenario("text_only"))
    rec = Recorder()
    messages = await run_loop([user("hello")], rec)
    assert srv.violations == []
    text = "".join(e.text for e in rec.of("text_delta"))
    assert messages[-1] == {"role": "assistant", "content": [{"type": "text", "text": text}]}
    assert rec.outputs == [{"type": "text", "text": text}]
    assert [err for _, _, err in rec.responses] == [None]
    assert rec.events[-1].kind == "done" and rec.events[-1].outcome == "completed"
    assert rec.of("usage")[0].output_tokens > 0


async def test_tool_starts_before_message_stop_and_history_matches_upstream(serve, tmp_path: Path) -> None:
    count = tmp_path / "count"
    srv = serve(scenario(
        {"blocks": [{"type": "text", "text": "Running it.", "chunk_size": 4},
                    bash_block("toolu_01", f"echo ran >> {count}; echo hi", pause_after_s=0.8)],
         "stop_reason": "tool_use"},
        {"expect": {"last_user_has_tool_result_for": ["toolu_01"]}, **text_turn("It printed hi.")}))
    rec = Recorder()
    messages = await run_loop([user("run it")], rec)
    assert srv.violations == []
    started = rec.of("tool_started")[0]
    assert started.mid_stream is True
    assert started.t < srv.t_message_stop(0)
    assert srv.t_message_stop(0) - started.t > 0.4  # the tool ran during the model's pause
    assert lines(count) == ["ran"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert tool_results(messages[2])[0] == {"type": "tool_result", "tool_use_id": "toolu_01", "is_error": False,
                                            "content": [{"type": "text", "text": "hi\n"}],
                                            "cache_control": {"type": "ephemeral"}}
    assert [c.text for c in rec.of("tool_output_chunk")] == ["hi\n"]
    assert len(rec.outputs) == 3 and len(rec.responses) == 2 and [t for _, t in rec.tool_outputs] == ["toolu_01"]


async def test_the_callback_gets_the_accumulators_events_and_the_tool_starts_at_block_stopped(serve) -> None:
    """One vocabulary: the message events the accumulator made reach the callback as they are, and the
    BlockStopped of a tool_use (with its parsed input) is where that tool starts."""
    srv = serve(scenario(
        {"blocks": [{"type": "text", "text": "Running it.", "chunk_size": 4},
                    bash_block("toolu_02", "echo hi", pause_after_s=0.3)], "stop_reason": "tool_use"},
        {"expect": {"last_user_has_tool_result_for": ["toolu_02"]}, **text_turn("Done.")}))
    rec = Recorder()
    messages = await run_loop([user("run it")], rec)
    assert srv.violations == []
    first = [e.kind for e in rec.events if getattr(e, "iteration", None) == 0 and e.kind != "tool_started"]
    assert first[:3] == ["request_started", "message_started", "block_started"]
    assert first[-3:] == ["message_delta", "message_stopped", "usage"]
    stopped = [e for e in rec.of("block_stopped") if e.iteration == 0]
    assert [e.block["type"] for e in stopped] == ["text", "tool_use"]
    assert stopped[1].block == messages[1]["content"][1]  # the very block that went into history
    assert stopped[1].block["input"] == {"command": "echo hi"}
    kinds = [e.kind for e in rec.events]
    assert rec.events.index(stopped[1]) < kinds.index("tool_started") < kinds.index("message_stopped")


async def test_two_tools_results_in_block_order_in_one_user_message(serve, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("remember the milk\n")
    srv = serve(load_scenario("two_tools", variables={"WORKDIR": str(tmp_path)}))
    rec = Recorder()
    messages = await run_loop([user("list and view")], rec)
    assert srv.violations == []
    results = messages[2]["content"]
    assert [b["type"] for b in results] == ["tool_result", "tool_result"]
    assert [b["tool_use_id"] for b in results] == ["toolu_01TwoToolsBash0000000001", "toolu_01TwoToolsView0000000002"]
    assert "remember the milk" in result_text(results[1])
    assert [t for _, t in rec.tool_outputs] == [b["tool_use_id"] for b in results]


async def test_same_tool_calls_run_in_order_without_overlap(serve, tmp_path: Path) -> None:
    log = tmp_path / "log"
    cmd = "echo start-{n} >> {log}; sleep 0.3; echo end-{n} >> {log}"
    srv = serve(scenario(
        {"blocks": [bash_block("toolu_a", cmd.format(n=1, log=log)), bash_block("toolu_b", cmd.format(n=2, log=log))],
         "stop_reason": "tool_use"}, text_turn("ok")))
    await run_loop([user("twice")], Recorder(), tool_concurrency="per_tool")
    assert srv.violations == []
    assert lines(log) == ["start-1", "end-1", "start-2", "end-2"]


@pytest.mark.parametrize("name", ["thinking_tool", "redacted_thinking"])
async def test_thinking_blocks_replayed_unchanged(serve, name: str) -> None:
    srv = serve(load_scenario(name))
    rec = Recorder()
    messages = await run_loop([user("size?")], rec, thinking_budget=2048, max_tokens=4096)
    assert srv.violations == []  # the server rejects a dropped, edited or reordered thinking block
    first_turn = srv.scenario.turns[0].blocks
    sent = srv.requests[1].body["messages"][1]["content"]
    for scripted, replayed in zip([b for b in first_turn if "thinking" in b["type"]], sent, strict=False):
        assert replayed["type"] == scripted["type"]
        if scripted["type"] == "thinking":
            assert (replayed["thinking"], replayed["signature"]) == (scripted["thinking"], scripted["signature"])
        else:
            assert replayed["data"] == scripted["data"]
    assert "".join(e.thinking for e in rec.of("thinking_delta") if e.iteration == 0) == first_turn[0]["thinking"]
    assert srv.requests[0].body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert "interleaved-thinking-2025-05-14" in srv.requests[0].betas
    assert messages[-1]["role"] == "assistant"


def test_thinking_parameter_rules_are_checked_before_sending() -> None:
    with pytest.raises(ThinkingConfigError, match="at least 1024"):
        asyncio.run(run_loop([user("x")], Recorder(), thinking_budget=500))
    with pytest.raises(ThinkingConfigError, match="less than max_tokens"):
        asyncio.run(run_loop([user("x")], Recorder(), tools=[], thinking_budget=4096, max_tokens=4096))


async def test_eager_tools_off_starts_tools_after_the_message(serve) -> None:
    srv = serve(load_scenario("bash_tool"))
    rec = Recorder()
    await run_loop([user("x")], rec, eager_tools=False)
    assert srv.violations == []
    started = rec.of("tool_started")[0]
    assert started.mid_stream is False and started.t > srv.t_message_stop(0)


# --------------------------------------------------------------------------------------------- failures


MALFORMED = scenario({**text_turn("A fine answer after a glitch."),
                      "inject": [{"kind": "malformed", "at": "after_delta:1", "times": 1}]})


@pytest.mark.parametrize(("name", "error_type"), [("overloaded_midstream", "overloaded_error"),
                                                  ("drop_midstream", "RemoteProtocolError"),
                                                  ("malformed", "JSONDecodeError")])
async def test_failure_before_any_tool_is_retried_and_ui_told_to_discard(serve, name: str, error_type: str) -> None:
    srv = serve(MALFORMED if name == "malformed" else load_scenario(name))
    rec = Recorder()
    messages = await run_loop([user("x")], rec)
    assert srv.violations == []
    retry = rec.of("retry")
    assert len(retry) == 1 and retry[0].discard_partial is True and retry[0].attempt == 1
    assert retry[0].error_type == error_type
    assert [e for _, _, e in rec.responses] == [None] * len(rec.responses)  # a recovered failure is not an error
    assert sum(1 for e in rec.of("tool_started")) == (1 if name == "drop_midstream" else 0)
    assert messages[-1]["role"] == "assistant" and rec.events[-1].outcome == "completed"
    # the retried message is not duplicated in history
    assert sum(1 for m in messages if m["role"] == "assistant") == len(srv.scenario.turns)


async def test_retries_exhausted_reports_the_error_and_appends_nothing(serve) -> None:
    srv = serve(scenario({**text_turn("Partial text that keeps failing."),
                          "inject": [{"kind": "error", "at": "after_delta:1", "error_type": "api_error", "times": 9}]}))
    rec = Recorder()
    messages = await run_loop([user("x")], rec)
    assert len(srv.requests) == 3 and [r.attempt for r in rec.of("retry")] == [1, 2]
    assert len(messages) == 1  # R11a: the partial text was shown, never stored
    errors = [e for _, _, e in rec.responses if e is not None]
    assert len(errors) == 1 and errors[0].status_code == 200 and errors[0].type == "api_error"
    assert rec.events[-1].outcome == "error" and rec.outputs == []


async def test_status_529_is_retried_by_the_sdk(serve) -> None:
    srv = serve(load_scenario("status_529"))
    rec = Recorder()
    messages = await run_loop([user("x")], rec)
    assert srv.violations == [] and len(srv.requests) == 2
    assert rec.of("retry") == [] and messages[-1]["content"][0]["text"] == "Answered after one retry."


async def test_non_retryable_open_error_is_reported_like_upstream(serve) -> None:
    srv = serve(scenario({**text_turn("never"), "inject": [{"kind": "status", "status": 400, "times": 5}]}))
    rec = Recorder()
    messages = await run_loop([user("x")], rec)
    assert len(messages) == 1 and len(srv.requests) == 1
    assert rec.responses[0][2] is not None and rec.responses[0][2].status_code == 400
    assert rec.events[-1].outcome == "error"


async def test_max_tokens_in_tool_never_runs_it(serve, tmp_path: Path) -> None:
    doc = load_scenario("max_tokens_in_tool", variables={"WORKDIR": str(tmp_path)})
    srv = serve(doc)
    rec = Recorder()
    messages = await run_loop([user("write it")], rec)
    assert rec.of("tool_started") == [] and not (tmp_path / "report.md").exists()
    assert messages[1] == {"role": "assistant", "content": [{"type": "text", "text": "Writing the report file."}]}
    assert len(messages) == 2 and rec.events[-1].outcome == "truncated"
    srv2 = serve(scenario(text_turn("continuing")))
    await run_loop(messages + [user("go on")], Recorder())
    assert srv.violations == [] and srv2.violations == []


async def test_refusal_appends_nothing_and_runs_nothing(serve) -> None:
    srv = serve(load_scenario("refusal"))
    rec = Recorder()
    messages = await run_loop([user("x")], rec)
    assert srv.violations == [] and len(messages) == 1 and rec.outputs == []
    assert rec.events[-1].outcome == "refused" and rec.events[-1].stop_reason == "refusal"


async def test_error_after_a_tool_started_without_retry_budget_returns(serve, tmp_path: Path) -> None:
    """No budget left: the kept blocks and the real result are appended and the loop returns (with budget
    the turn is continued instead: test_unified_loop_drop.py)."""
    count = tmp_path / "count"
    srv = serve(scenario({
        "blocks": [{"type": "text", "text": "Counting.", "chunk_size": 4},
                   bash_block("toolu_c", f"echo ran >> {count}; echo counted", pause_after_s=0.4),
                   {"type": "text", "text": "More text that never arrives.", "chunk_size": 4}],
        "stop_reason": "tool_use",
        "inject": [{"kind": "error", "at": "in_block:2", "error_type": "overloaded_error", "times": 3}]}))
    rec = Recorder()
    messages = await run_loop([user("count")], rec, retry_policy=RetryPolicy(max_retries=0))
    assert len(srv.requests) == 1 and rec.of("retry") == []
    assert lines(count) == ["ran"]
    assert messages[1]["content"][-1]["id"] == "toolu_c" and len(messages[1]["content"]) == 2
    (result,) = tool_results(messages[2])
    assert result["is_error"] is False and result_text(result) == "counted\n"
    assert rec.responses[-1][2] is not None and rec.events[-1].outcome == "error"
    srv2 = serve(scenario(text_turn("resumed")))
    await run_loop(messages + [user("continue")], Recorder())
    assert srv2.violations == [] and srv.violations == []


async def test_unknown_tool_and_invalid_input_become_error_results(serve) -> None:
    srv = serve(scenario(
        {"blocks": [{"type": "tool_use", "id": "toolu_u", "name": "teleport", "input": {"to": "mars"}},
                    {"type": "tool_use", "id": "toolu_i", "name": "bash", "input": {"cmd": "ls"}},
                    {"type": "tool_use", "id": "toolu_j", "name": "bash", "input": {},
                     "partial_json": '{"command": "echo hi"'}],
         "stop_reason": "tool_use"},
        {"expect": {"last_user_has_tool_result_for": ["toolu_u", "toolu_i", "toolu_j"]}, **text_turn("ok")}),
        validate=False)
    rec = Recorder()
    messages = await run_loop([user("x")], rec)
    results = tool_results(messages[2])
    assert [r["is_error"] for r in results] == [True, True, True]
    assert result_text(results[0]) == "Tool teleport is invalid"
    assert "unexpected keyword argument 'cmd'" in result_text(results[1])
    assert "not valid JSON" in result_text(results[2])
    assert messages[1]["content"][2]["input"] == {"INVALID_JSON": '{"command": "echo hi"'}
    assert [s for s in srv.violations if s.rule == "scenario"] == []


# ----------------------------------------------------------------------------------------- cancellation


async def cancel_when(coro_factory: Any, rec: Recorder, predicate: Any) -> None:
    """Run the loop as a task and cancel it at the first stream event after which ``predicate`` holds."""
    hit = asyncio.Event()
    rec.watch = lambda r: hit.set() if predicate(r) else None
    task = asyncio.create_task(coro_factory())
    waiter = asyncio.create_task(hit.wait())
    done, _ = await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED, timeout=20)
    waiter.cancel()
    assert task not in done, "the loop ended before the cancellation point"
    assert hit.is_set(), "the cancellation point never came"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def group_gone(pgid: int, within_s: float = 5.0) -> bool:
    """True once no process of the group is left (killed children may linger briefly as zombies)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


async def follow_up_is_valid(serve, messages: list[dict[str, Any]]) -> None:
    srv2 = serve(scenario(text_turn("fine")))
    out = await run_loop(messages + [user("what happened?")], Recorder())
    assert srv2.violations == [] and out[-1]["role"] == "assistant"


async def test_cancel_phase_a_while_text_streams(serve) -> None:
    serve(scenario({"blocks": [{"type": "text", "text": "slow " * 30, "chunk_size": 5}], "stop_reason": "end_turn",
                    "event_delay_s": 0.05}))
    rec, messages = Recorder(), [user("x")]
    await cancel_when(lambda: run_loop(messages, rec), rec, lambda r: len(r.of("text_delta")) >= 2)
    assert len(messages) == 1 and messages[0]["role"] == "user"
    assert rec.events[-1].kind == "done" and rec.events[-1].outcome == "cancelled"
    await follow_up_is_valid(serve, messages)


async def test_cancel_phase_b_mid_stream_kills_running_tool(serve, tmp_path: Path) -> None:
    pgid_file = tmp_path / "pgid"
    srv = serve(scenario({
        "blocks": [{"type": "text", "text": "Two jobs.", "chunk_size": 4},
                   bash_block("toolu_long", f"ps -o pgid= $$ > {pgid_file}; echo started; sleep 30"),
                   bash_block("toolu_next", "echo next", pause_after_s=5)],
        "stop_reason": "tool_use"}))
    rec, messages = Recorder(), [user("x")]
    await cancel_when(lambda: run_loop(messages, rec), rec,
                      lambda r: any(c.text == "started\n" for c in r.of("tool_output_chunk")))
    assert srv.t_message_stop(0) is None  # cancelled while the model was still streaming
    assert [b["type"] for b in messages[1]["content"]] == ["text", "tool_use", "tool_use"]
    long_result, next_result = tool_results(messages[2])
    assert long_result["is_error"] and "interrupted while running" in result_text(long_result)
    assert "started" in result_text(long_result)
    assert next_result["is_error"] and result_text(next_result).startswith("not run")
    assert group_gone(int(pgid_file.read_text()))
    await follow_up_is_valid(serve, messages)


async def test_cancel_phase_c_after_message_complete(serve) -> None:
    srv = serve(scenario({"blocks": [bash_block("toolu_s", "echo started; sleep 30")], "stop_reason": "tool_use"}))
    rec, messages = Recorder(), [user("x")]
    await cancel_when(lambda: run_loop(messages, rec), rec,
                      lambda r: bool(r.of("usage")) and bool(r.of("tool_output_chunk")))
    assert srv.t_message_stop(0) is not None
    assert messages[1]["content"][0]["id"] == "toolu_s"
    (result,) = tool_results(messages[2])
    assert result["is_error"] and "interrupted while running" in result_text(result)
    statuses = [e.status for e in rec.of("tool_finished")]
    assert statuses == ["interrupted"]
    await follow_up_is_valid(serve, messages)


# ------------------------------------------------------------------------------------------- tool sets


def test_own_tool_set_outside_a_host_tree_uses_the_streaming_tools() -> None:
    toolset = resolve_tool_set("computer_use_20250429", ToggleState())
    try:
        assert [type(t).__name__ for t in toolset.tools] == ["StreamingEditTool20250429", "StreamingBashTool"]
        assert [t.to_params() for t in toolset.tools] == [
            {"name": "str_replace_based_edit_tool", "type": "text_editor_20250429"},
            {"type": "bash_20250124", "name": "bash"}]
        assert toolset.beta_flag == "computer-use-2025-01-24"
    finally:
        for tool in toolset.tools:
            if hasattr(tool, "aclose"):
                asyncio.run(tool.aclose())
    with pytest.raises(KeyError):
        resolve_tool_set("computer_use_19990101", ToggleState())


# ----------------------------------------------------------------------------------------------- drop-in


def standin_loop(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "examples"))
    import computer_use_demo.loop as standin

    return standin


def test_signature_is_upstreams_plus_optional_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    import ast
    import inspect

    from dc_impl.unified_streaming_loop import sampling_loop

    standin = standin_loop(monkeypatch)
    ours, theirs = inspect.signature(sampling_loop).parameters, inspect.signature(standin.sampling_loop).parameters
    for name, param in theirs.items():
        assert ours[name].kind is param.kind and ours[name].default == param.default, name
    for name in set(ours) - set(theirs):
        assert ours[name].default is not inspect.Parameter.empty, name
    # every keyword the stand-in's streamlit app passes is accepted
    tree = ast.parse(Path(standin.__file__).with_name("streamlit.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "sampling_loop"]
    assert calls and all(kw.arg in ours for call in calls for kw in call.keywords)


async def test_drop_in_gives_the_standin_callers_the_same_turn(serve, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only upstream keywords, default tools: same history shape and callback counts as the stand-in."""
    from dc_impl.unified_streaming_loop import sampling_loop

    standin = standin_loop(monkeypatch)
    runs = {}
    for name, loop_fn in (("standin", standin.sampling_loop), ("ours", sampling_loop)):
        srv = serve(load_scenario("bash_tool"))
        counts = {"output": 0, "tool": 0, "api": 0}
        messages = await loop_fn(
            model="claude-sonnet-4-6", provider=standin.APIProvider.ANTHROPIC, system_prompt_suffix="",
            messages=[user("say hi")], api_key="test", tool_version="computer_use_20250429",
            output_callback=lambda b, c=counts: c.__setitem__("output", c["output"] + 1),
            tool_output_callback=lambda r, i, c=counts: c.__setitem__("tool", c["tool"] + 1),
            api_response_callback=lambda q, r, e, c=counts: c.__setitem__("api", c["api"] + 1))
        assert srv.violations == []
        runs[name] = (messages, counts, [bool(r.body.get("stream")) for r in srv.requests])
    (theirs, their_counts, their_stream), (ours, our_counts, our_stream) = runs["standin"], runs["ours"]
    assert our_counts == their_counts == {"output": 3, "tool": 1, "api": 2}
    assert their_stream == [False, False] and our_stream == [True, True]
    assert [(m["role"], [b["type"] for b in m["content"]]) for m in ours] == \
        [(m["role"], [b["type"] for b in m["content"]]) for m in theirs]
    assert [b.get("text") for b in ours[1]["content"]] == [b.get("text") for b in theirs[1]["content"]]
    assert result_text(ours[2]["content"][0]).strip() == result_text(theirs[2]["content"][0]).strip() == "hi"
