"""The scripted server and a continuation after a dropped stream (issue 12 item 1).

A request that resends the same history is a retry and gets the same turn again; a request that answers
the tool_use blocks of a turn whose stream failed is a continuation and gets the next turn. Every
continuation is validated like the real API: the invalid shapes a loop could produce from a cut message
are refused with a 400 naming the broken rule, and do not consume the turn.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import anthropic
import pytest

from dc_verify.scripted_server import ScriptedServer, load_scenario

THINKING = {"type": "enabled", "budget_tokens": 2048}
TOOL_ID = "toolu_01DropThinking000000001"


def first_request() -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": "check the shell"}]}]


def kept_blocks(srv: ScriptedServer) -> list[dict[str, Any]]:
    """The complete blocks before the drop, as the server issued them: thinking, text, tool_use."""
    knobs = {"chunk_size", "chunks", "pause_after_s", "truncated"}
    return [{k: v for k, v in b.items() if k not in knobs} for b in srv.scenario.turns[0].blocks[:3]]


def continuation(srv: ScriptedServer) -> list[dict[str, Any]]:
    result = {"type": "tool_result", "tool_use_id": TOOL_ID, "content": [{"type": "text", "text": "shell-ok\n"}],
              "is_error": False}
    return [*first_request(), {"role": "assistant", "content": kept_blocks(srv)},
            {"role": "user", "content": [result]}]


def client(srv: ScriptedServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=srv.base_url, api_key="test", max_retries=0)


def dropped_first_attempt(srv: ScriptedServer) -> None:
    """Stream the first request until the scripted drop after the tool_use block."""
    stream = client(srv).messages.create(model="claude-sonnet-4-6", max_tokens=4096, messages=first_request(),
                                         thinking=THINKING, stream=True)
    seen = []
    with pytest.raises(Exception, match="incomplete chunked read|peer closed"):
        for event in stream:
            seen.append(event.type)
    assert seen.count("content_block_stop") == 3 and "message_stop" not in seen
    assert srv.requests[0].outcome == "drop" and srv.turns_served == 0


def send(srv: ScriptedServer, messages: list[dict[str, Any]]) -> Any:
    return client(srv).messages.create(model="claude-sonnet-4-6", max_tokens=4096, messages=messages,
                                       thinking=THINKING)


def assistant(m: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return m[1]["content"]


MUTATIONS: list[tuple[str, Callable[[list[dict[str, Any]]], Any], str]] = [
    ("results not sent", lambda m: m.pop(), "R2"),
    ("thinking cut before its signature", lambda m: assistant(m)[0].__setitem__("signature", ""), "R5"),
    ("thinking text edited", lambda m: assistant(m)[0].__setitem__("thinking", "Something else."), "R5"),
    ("thinking dropped from the kept blocks", lambda m: assistant(m).pop(0), "R6"),
    ("partial tool input kept", lambda m: assistant(m)[2].__setitem__("input", '{"command": "echo sh'), "R1"),
    ("text before the result", lambda m: m[2]["content"].insert(0, {"type": "text", "text": "dropped"}), "R3"),
    ("tool_use kept twice", lambda m: assistant(m).append(copy.deepcopy(assistant(m)[2])), "R3"),
    ("result for a block that was cut", lambda m: m[2]["content"].append(
        {"type": "tool_result", "tool_use_id": "toolu_01NeverCompleted0000001", "content": "x"}), "R2"),
]


def test_invalid_continuations_are_refused_and_a_valid_one_gets_the_next_turn() -> None:
    with ScriptedServer(load_scenario("drop_after_tool_thinking")) as srv:
        dropped_first_attempt(srv)
        for i, (what, mutate, rule) in enumerate(MUTATIONS, start=1):
            messages = continuation(srv)
            mutate(messages)
            with pytest.raises(anthropic.BadRequestError):
                send(srv, messages)
            assert rule in {v.rule for v in srv.violations if v.request_index == i}, what
            assert srv.turns_served == 0, what  # a refused request consumes nothing
        reply = send(srv, continuation(srv))
        assert [b.type for b in reply.content] == ["thinking", "text"]
        assert reply.content[1].text == "The shell works."
        assert srv.requests[-1].turn_index == 1 and srv.turns_served == 2
        assert {v.request_index for v in srv.violations} == set(range(1, len(MUTATIONS) + 1))


def test_a_retry_with_the_same_history_gets_the_same_turn() -> None:
    with ScriptedServer(load_scenario("drop_after_tool_thinking")) as srv:
        dropped_first_attempt(srv)
        reply = send(srv, first_request())
        assert [b.type for b in reply.content] == ["thinking", "text", "tool_use", "text"]
        assert (srv.requests[1].turn_index, srv.requests[1].attempt) == (0, 2)
        assert srv.violations == []
