"""Scenario documents for the loop checks (scripted-server format, see docs/scenarios.md).

Built as dicts here rather than shipped files because they embed per-run details: the scratch paths
the bash commands write to and the interpreter that writes a monotonic timestamp. ``CLOCK_MONOTONIC``
is system-wide on Linux, so a time written by a tool's subprocess compares directly with the scripted
server's ``t_message_stop`` measured in this process.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

MODEL = "claude-sonnet-4-5"
TOOL_PAUSE_S = 1.0  # the server holds message_stop back this long after the tool_use block
TEXT_REPLY = "Verification turn: the streaming loop answers in several deltas."
THINKING_TEXT = "The user wants a marker written. One bash call is enough."
THINKING_SIGNATURE = "EqQBCgIYAhIMdmVyaWZ5LXNpZ25hdHVyZS1ub3QtcmVhbA=="
REDACTED_DATA = "EmwKAhgBEgyVerifyRedactedThinkingOpaquePayload"


def stamp_command(path: Path) -> str:
    """A bash command that writes ``time.monotonic()`` of the moment it ran to ``path``."""
    py = shlex.quote(sys.executable)
    return f"{py} -c 'import time; print(time.monotonic())' > {shlex.quote(str(path))}"


def _text(text: str, chunk: int = 8) -> dict[str, Any]:
    return {"type": "text", "text": text, "chunk_size": chunk}


def _tool(tool_id: str, command: str, pause: float = 0.0) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_use", "id": tool_id, "name": "bash", "input": {"command": command},
                             "chunk_size": 12}
    if pause:
        block["pause_after_s"] = pause
    return block


def _final(tool_ids: list[str], text: str) -> dict[str, Any]:
    return {"expect": {"last_user_has_tool_result_for": tool_ids}, "blocks": [_text(text)],
            "stop_reason": "end_turn", "usage": {"input_tokens": 60, "output_tokens": 12}}


def _doc(name: str, description: str, turns: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "description": description, "defaults": {"model": MODEL, "event_delay_s": 0.005},
            "turns": turns}


def text_only() -> dict[str, Any]:
    return _doc("verify_text", "one text-only turn", [
        {"blocks": [_text(TEXT_REPLY, 6)], "stop_reason": "end_turn", "usage": {"input_tokens": 20, "output_tokens": 14}},
    ])


def tool_midstream(stamp: Path) -> dict[str, Any]:
    return _doc("verify_tool_midstream", "a bash tool_use, then the server waits before message_stop", [
        {"blocks": [_text("Writing the marker."), _tool("toolu_01VerifyMidstream00000001", stamp_command(stamp),
                                                        TOOL_PAUSE_S)],
         "stop_reason": "tool_use", "usage": {"input_tokens": 40, "output_tokens": 30}},
        _final(["toolu_01VerifyMidstream00000001"], "Marker written."),
    ])


def two_tools(marker: str) -> dict[str, Any]:
    ids = ["toolu_01VerifyTwoToolsFirst0001", "toolu_01VerifyTwoToolsSecond001"]
    return _doc("verify_two_tools", "two bash tool_use blocks in one message", [
        {"blocks": [_text("Two commands."), _tool(ids[0], f"echo first-{marker}"),
                    _tool(ids[1], f"echo second-{marker}")],
         "stop_reason": "tool_use", "usage": {"input_tokens": 40, "output_tokens": 50}},
        _final(ids, "Both ran."),
    ])


def thinking_tool(marker: str) -> dict[str, Any]:
    tool_id = "toolu_01VerifyThinkingTool0001"
    return _doc("verify_thinking", "thinking + redacted thinking + tool_use; the follow-up must replay them", [
        {"blocks": [
            {"type": "thinking", "thinking": THINKING_TEXT, "signature": THINKING_SIGNATURE, "chunk_size": 9},
            {"type": "redacted_thinking", "data": REDACTED_DATA},
            _tool(tool_id, f"echo {marker}"),
        ], "stop_reason": "tool_use", "usage": {"input_tokens": 50, "output_tokens": 70}},
        _final([tool_id], "Done thinking."),
    ])


def overloaded(counter: Path) -> dict[str, Any]:
    tool_id = "toolu_01VerifyOverloaded000001"
    command = f"echo ran >> {shlex.quote(str(counter))}"
    return _doc("verify_overloaded", "an overloaded_error event mid-stream once, then the same turn cleanly", [
        {"blocks": [_text("Let me run one command after this sentence."), _tool(tool_id, command)],
         "stop_reason": "tool_use", "usage": {"input_tokens": 40, "output_tokens": 40},
         "inject": [{"kind": "error", "at": "after_block:0", "error_type": "overloaded_error", "times": 1}]},
        _final([tool_id], "Recovered."),
    ])
