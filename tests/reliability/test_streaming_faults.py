"""Streaming side: faults at every point of a turn, and cancellation in every phase, against the scripted server.

The unified loop talks real HTTP/SSE to ``dc_verify.scripted_server`` (which validates every request
like the real API and records violations) and runs the real streaming bash tool. Whatever goes
wrong -- an ``error`` event, a dropped connection, a malformed event, a stall, a 529 -- at whatever
point of the turn, the conversation must stay valid (zero violations), the tool must run exactly
once, and the conversation must be able to go on. Cancelling the turn in each phase of docs/streaming-rules.md ("Cancellation") must heal
the history and leave no process behind.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from dc_impl.tools.dc_bash import StreamingBashTool
from dc_impl.unified_streaming_loop import RetryPolicy, sampling_loop
from dc_verify.scripted_server import ScriptedServer

pytestmark = pytest.mark.reliability

TOOL_ID = "toolu_01ReliabilityFault000001"
FAST_RETRY = RetryPolicy(max_retries=2, base_delay_s=0.02, max_delay_s=0.1, jitter=0.0)
POINTS = ["before_message_start", "after_message_start", "after_block_start:0", "in_block:0", "after_block:0",
          "after_block_start:1", "in_block:1", "after_block:1", "before_message_delta", "before_message_stop"]
KINDS = {"error": {"kind": "error", "error_type": "overloaded_error"}, "drop": {"kind": "drop"},
         "malformed": {"kind": "malformed", "variant": "bad_json"}, "stall": {"kind": "stall", "seconds": 0.3}}
FAST_FAULTS = {("error", "in_block:0"), ("drop", "in_block:1"), ("malformed", "after_block:1"),
               ("error", "before_message_stop"), ("stall", "in_block:1")}


def _tool_turn(command: str, inject: list[dict[str, Any]] | None = None, *, tail: str | None = None,
               delay: float | None = None) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": "Running the command now.", "chunk_size": 6},
        {"type": "tool_use", "id": TOOL_ID, "name": "bash", "input": {"command": command}, "chunk_size": 5}]
    if tail is not None:
        blocks.append({"type": "text", "text": tail, "chunk_size": 4})
    turn: dict[str, Any] = {"blocks": blocks, "stop_reason": "tool_use", "inject": inject or []}
    if delay is not None:
        turn["event_delay_s"] = delay
    return turn


def _text_turn(text: str, expect: dict[str, Any] | None = None) -> dict[str, Any]:
    turn: dict[str, Any] = {"blocks": [{"type": "text", "text": text, "chunk_size": 8}], "stop_reason": "end_turn"}
    if expect:
        turn["expect"] = expect
    return turn


def _scenario(*turns: dict[str, Any]) -> dict[str, Any]:
    return {"name": "reliability_faults", "defaults": {"model": "claude-sonnet-4-6"}, "turns": list(turns)}


async def _loop(messages: list[dict[str, Any]], tool: StreamingBashTool, responses: list[Any]) -> list[Any]:
    return await sampling_loop(
        model="claude-sonnet-4-6", provider="anthropic", system_prompt_suffix="", messages=messages,
        output_callback=lambda block: None, tool_output_callback=lambda result, tid: None,
        api_response_callback=lambda req, resp, err: responses.append(err), api_key="test",
        tool_version="computer_use_20250429", tools=[tool], retry_policy=FAST_RETRY)


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def _continue(messages: list[dict[str, Any]], text: str) -> None:
    """Add the next user text: after the results when the history ends with a user turn (R3), else a new turn."""
    if messages and messages[-1]["role"] == "user":
        messages[-1]["content"].append({"type": "text", "text": text})
    else:
        messages.append(_user(text))


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry.name))
    return found


def _fault_cases() -> list[object]:
    out: list[object] = []
    for kind in KINDS:
        for point in POINTS:
            if kind == "stall" and point == "before_message_start":
                continue
            marks = [] if (kind, point) in FAST_FAULTS else [pytest.mark.slow]
            out.append(pytest.param(kind, point, marks=marks, id=f"{kind}-{point}"))
    out.append(pytest.param("status", None, id="status-529-twice"))
    return out


async def _go_on(messages: list[dict[str, Any]], tool: StreamingBashTool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Continue the conversation on a fresh server (the first one would re-serve an unconsumed turn):
    answer pending tool results if the history ends with them, then one more user question. 0 violations."""
    turns = []
    pending = messages[-1]["role"] == "user" and any(b.get("type") == "tool_result" for b in messages[-1]["content"])
    if pending:
        turns.append(_text_turn("Noted.", {"last_user_has_tool_result_for": [TOOL_ID]}))
    turns.append(_text_turn("Still here."))
    with ScriptedServer(_scenario(*turns)) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        if pending:
            await _loop(messages, tool, [])
        _continue(messages, "and now?")
        await _loop(messages, tool, [])
        assert srv.violations == [], [v.message for v in srv.violations]
        assert srv.turns_served == len(turns)


@pytest.mark.parametrize(("kind", "point"), _fault_cases())
async def test_fault_at_every_point_keeps_history_valid(kind: str, point: str | None, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    counter = tmp_path / "runs.txt"
    if kind == "status":
        inject = [{"kind": "status", "status": 529, "times": 2, "retry_after_s": 0.05}]
    else:
        inject = [{**KINDS[kind], "at": point, "times": 1}]
    scenario = _scenario(_tool_turn(f"echo ran >> {counter}", inject),
                         _text_turn("Done.", {"last_user_has_tool_result_for": [TOOL_ID]}))
    tool = StreamingBashTool(timeout=30)
    messages = [_user("run it")]
    try:
        with ScriptedServer(scenario) as srv:
            monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
            await _loop(messages, tool, [])
            assert srv.violations == [], [v.message for v in srv.violations]
            assert [i.kind for i in srv.injections_fired][:1] == [kind]
            if srv.turns_served < 2:  # the failure came after the tool had started: no retry, history healed
                assert kind != "stall" and srv.turns_served == 0 and messages[-1]["role"] == "user"
        await _go_on(messages, tool, monkeypatch)
    finally:
        await tool.aclose()
    assert counter.read_text() == "ran\n"  # exactly once, whatever failed and was retried
    results = [b for m in messages if m["role"] == "user" for b in m["content"] if b.get("type") == "tool_result"]
    assert [b["tool_use_id"] for b in results] == [TOOL_ID]


def _cancel_scenario(phase: str, counter: Path, marker: str) -> dict[str, Any]:
    command = f"echo ran >> {counter}; sleep {marker}"
    if phase == "a":  # cancelled while the text before the tool streams
        first = _tool_turn(command, delay=0.2)
    elif phase == "b":  # tool dispatched at its content_block_stop, the stream still going
        first = _tool_turn(command, tail="and some more words after the tool call " * 3, delay=0.05)
    else:  # the message is complete and appended, the tool still running
        first = _tool_turn(command)
    return _scenario(first, _text_turn("Understood, stopping."))


async def _wait_until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition never became true")
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("phase", ["a", "b", "c"])
async def test_cancel_in_every_phase_heals_history(phase: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    counter = tmp_path / "runs.txt"
    marker = {"a": "41.1", "b": "41.2", "c": "41.3"}[phase]
    tool = StreamingBashTool(timeout=60)
    messages = [_user("run it")]
    try:
        with ScriptedServer(_cancel_scenario(phase, counter, marker)) as srv:
            monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
            task = asyncio.create_task(_loop(messages, tool, []))
            if phase == "a":
                await _wait_until(lambda: len(srv.events_sent) >= 4)
            else:
                await _wait_until(lambda: counter.exists())
                if phase == "c":
                    await _wait_until(lambda: srv.t_message_stop(0) is not None)
                    await asyncio.sleep(0.2)
                else:
                    assert srv.t_message_stop(0) is None, "the stream ended before the cancel (phase b not hit)"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert srv.violations == []
        if phase == "a":  # nothing appended, nothing ran
            assert len(messages) == 1 and messages[0]["content"][0]["text"] == "run it" and not counter.exists()
        else:  # every kept tool_use answered, flagged as an error (interrupted)
            assert messages[-1]["role"] == "user"
            results = [b for b in messages[-1]["content"] if b.get("type") == "tool_result"]
            assert [b["tool_use_id"] for b in results] == [TOOL_ID] and results[0].get("is_error") is True
        await _wait_until(lambda: _processes_with(f"sleep {marker}") == [], timeout=5)  # killed with the turn
        await _go_on(messages, tool, monkeypatch)
    finally:
        await tool.aclose()
    assert not counter.exists() or counter.read_text() == "ran\n"
