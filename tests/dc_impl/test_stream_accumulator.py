"""Replay recorded SSE transcripts (the SDK's fixtures and the reference's transcripts) through the
pure accumulator, as raw dicts and as the SDK's typed event objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from anthropic._models import construct_type
from anthropic.types.beta import BetaRawMessageStreamEvent

from dc_impl.stream.accumulator import (
    StreamProtocolError,
    TurnState,
    apply_event,
    completed_prefix,
    final_blocks,
    message_completeness,
    replay,
)
from dc_impl.stream.events import (
    BlockStarted,
    BlockStopped,
    MessageDelta,
    MessageStarted,
    MessageStopped,
    StreamError,
    TextDelta,
    ThinkingDelta,
    ToolInputProgress,
)

REPO = Path(__file__).resolve().parents[2]
IN_REPO_FIXTURES = REPO / "tests" / "fixtures" / "sdk-sse"
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures" / "sdk-sse"
FIXTURE_NAMES = sorted(p.name for p in IN_REPO_FIXTURES.glob("*.txt"))


def parse_sse(text: str, *, flush_at_eof: bool = False) -> list[tuple[str | None, dict]]:
    """SSE framing as the SDK decodes it: dispatch on a blank line, skip ':' comments, join data lines."""
    events: list[tuple[str | None, dict]] = []
    name: str | None = None
    data: list[str] = []

    def dispatch() -> None:
        nonlocal name, data
        if data:
            events.append((name, json.loads("\n".join(data))))
        name, data = None, []

    for line in text.splitlines():
        if not line:
            dispatch()
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
    if flush_at_eof:
        dispatch()
    return events


def load_fixture(name: str, *, flush_at_eof: bool = True) -> list[dict]:
    return [payload for _, payload in parse_sse((IN_REPO_FIXTURES / name).read_text(), flush_at_eof=flush_at_eof)]


def as_sdk_events(payloads: list[dict]) -> list[object]:
    return [construct_type(type_=BetaRawMessageStreamEvent, value=p) for p in payloads if p["type"] != "ping"]


def kinds(events: list) -> list[str]:
    return [e.kind for e in events]


# --------------------------------------------------------------------------------------- fixture files


def test_in_repo_fixtures_match_the_shared_copy() -> None:
    assert len(FIXTURE_NAMES) == 7
    if not SHARED_FIXTURES.is_dir():
        pytest.skip("shared fixtures directory not present next to the repository")
    for name in FIXTURE_NAMES:
        assert (IN_REPO_FIXTURES / name).read_bytes() == (SHARED_FIXTURES / name).read_bytes(), name


@pytest.mark.parametrize("name", FIXTURE_NAMES)
@pytest.mark.parametrize("form", ["dict", "sdk"])
def test_every_fixture_replays_and_sdk_objects_give_the_same_history(name: str, form: str) -> None:
    payloads = load_fixture(name)
    state, actions = replay(payloads if form == "dict" else as_sdk_events(payloads))
    ref_state, ref_actions = replay(payloads)
    assert state.started and state.stopped
    assert state.stop_reason is not None
    assert final_blocks(state) == final_blocks(ref_state)
    assert kinds(actions) == kinds(ref_actions)
    assert isinstance(actions[0], MessageStarted) and isinstance(actions[-1], MessageStopped)


def test_fixtures_without_final_blank_line_never_deliver_message_stop() -> None:
    payloads = load_fixture("basic_response.txt", flush_at_eof=False)
    state, _ = replay(payloads)
    assert not state.stopped and state.stop_reason == "end_turn"
    assert message_completeness(state) == (True, None)  # a non-null stop_reason is the minimum


def test_basic_response() -> None:
    state, actions = replay(load_fixture("basic_response.txt"))
    assert final_blocks(state) == [{"type": "text", "text": "Hello there!"}]
    assert [a.text for a in actions if isinstance(a, TextDelta)] == ["Hello", " there", "!"]
    assert kinds(actions) == ["message_started", "block_started", "text_delta", "text_delta", "text_delta",
                              "block_stopped", "message_delta", "message_stopped"]
    assert state.usage["output_tokens"] == 6 and state.usage["input_tokens"] == 11
    assert state.message_id == "msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK"


def test_tool_use_dispatch_point_is_block_stop_with_parsed_input() -> None:
    state, actions = replay(load_fixture("tool_use_response.txt"))
    closed = [a for a in actions if isinstance(a, BlockStopped)]
    assert [c.index for c in closed] == [0, 1]
    tool = closed[1].block
    assert tool == {"type": "tool_use", "id": "toolu_01NRLabsLyVHZPKxbKvkfSMn", "name": "get_weather",
                    "caller": {"type": "direct"}, "input": {"location": "Paris"}}
    progress = [a for a in actions if isinstance(a, ToolInputProgress)]
    assert "".join(p.partial_json for p in progress) == '{"location": "Paris"}'
    assert progress[-1].chars == len('{"location": "Paris"}') and progress[0].tool_use_id == tool["id"]
    # the dispatch action comes before the message_delta that carries stop_reason
    assert actions.index(closed[1]) < next(i for i, a in enumerate(actions) if isinstance(a, MessageDelta))
    assert [b for b in final_blocks(state) if b["type"] == "tool_use"] == [tool]
    assert message_completeness(state) == (True, None)


def test_incomplete_partial_json_is_never_a_complete_tool_use() -> None:
    state, actions = replay(load_fixture("incomplete_partial_json_response.txt"))
    assert state.stop_reason == "max_tokens"
    assert not any(isinstance(a, BlockStopped) and a.block["type"] == "tool_use" for a in actions)
    complete, reason = message_completeness(state)
    assert not complete and "block 1 (tool_use)" in reason
    prefix = completed_prefix(state)
    assert [b["type"] for b in prefix] == ["text"]
    assert prefix[0]["text"].startswith("I'll create a comprehensive tax guide")
    assert [b for b in prefix if b["type"] == "tool_use"] == []


def test_refusal_drops_the_empty_text_and_keeps_stop_details() -> None:
    state, _ = replay(load_fixture("refusal_response.txt"))
    assert state.stop_reason == "refusal"
    assert state.stop_details == {"type": "refusal", "category": "cyber",
                                  "explanation": "This request was refused due to policy."}
    assert final_blocks(state) == []


def test_unknown_blocks_are_kept_whole() -> None:
    state, _ = replay(load_fixture("fallback_response.txt"))
    assert final_blocks(state)[0] == {"type": "fallback", "from": {"model": "claude-opus-4-7"},
                                      "to": {"model": "claude-sonnet-4-5"},
                                      "trigger": {"type": "refusal", "category": None}}
    state, _ = replay(load_fixture("compaction_response.txt"))
    assert final_blocks(state)[0] == {"type": "compaction", "content": "Earlier conversation summarized.",
                                      "encrypted_content": "EpwBCioIDxgCEAEYASJALd_opaque_compaction_payload"}
    state, _ = replay(load_fixture("fallback_credit_response.txt"))
    assert state.usage["fallback_credit"] == {"status": {"type": "redeemed"}}


# ------------------------------------------------------------------------- transcripts from the reference


def ev(**kw: object) -> dict:
    return dict(kw)


START = ev(type="message_start", message={"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                                          "content": [], "stop_reason": None, "usage": {"input_tokens": 5,
                                                                                        "output_tokens": 1}})


def thinking_tool_events(signature: str | None = "EqQBsig==") -> list[dict]:
    out = [START, ev(type="content_block_start", index=0,
                     content_block={"type": "thinking", "thinking": "", "signature": ""}),
           ev(type="content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": "The user wants"}),
           ev(type="content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": " a du call."})]
    if signature is not None:
        out += [ev(type="content_block_delta", index=0, delta={"type": "signature_delta", "signature": "stale"}),
                ev(type="content_block_delta", index=0, delta={"type": "signature_delta", "signature": signature})]
    out += [ev(type="content_block_stop", index=0),
            ev(type="content_block_start", index=1, content_block={"type": "redacted_thinking", "data": "EmwKopaque"}),
            ev(type="content_block_stop", index=1),
            ev(type="content_block_start", index=2, content_block={"type": "tool_use", "id": "toolu_du",
                                                                    "name": "bash", "input": {}}),
            ev(type="content_block_delta", index=2,
               delta={"type": "input_json_delta", "partial_json": '{"command": "du -sh x"}'}),
            ev(type="content_block_stop", index=2),
            ev(type="message_delta", delta={"stop_reason": "tool_use"},
               usage={"output_tokens": 210, "output_tokens_details": {"thinking_tokens": 150}}),
            ev(type="message_stop")]
    return out


def test_thinking_appends_signature_replaces_redacted_kept() -> None:
    state, actions = replay(thinking_tool_events())
    blocks = final_blocks(state)
    assert blocks == [
        {"type": "thinking", "thinking": "The user wants a du call.", "signature": "EqQBsig=="},
        {"type": "redacted_thinking", "data": "EmwKopaque"},
        {"type": "tool_use", "id": "toolu_du", "name": "bash", "input": {"command": "du -sh x"}},
    ]
    assert [a.thinking for a in actions if isinstance(a, ThinkingDelta)] == ["The user wants", " a du call."]
    assert state.thinking_tokens == 150 and state.usage["output_tokens"] == 210
    assert message_completeness(state) == (True, None)


def test_thinking_without_signature_makes_the_message_incomplete() -> None:
    state, _ = replay(thinking_tool_events(signature=None))
    complete, reason = message_completeness(state)
    assert not complete and "signature" in reason
    assert completed_prefix(state) == []  # nothing after an unsigned thinking block is kept


def test_error_event_mid_stream_leaves_partial_text_only_for_the_ui() -> None:
    events = [START, ev(type="content_block_start", index=0, content_block={"type": "text", "text": ""}),
              ev(type="content_block_delta", index=0, delta={"type": "text_delta", "text": "Let me look at"}),
              ev(type="error", error={"type": "overloaded_error", "message": "Overloaded"})]
    state, actions = replay(events)
    assert isinstance(actions[-1], StreamError) and state.error["type"] == "overloaded_error"
    assert message_completeness(state)[0] is False
    assert completed_prefix(state) == []
    assert completed_prefix(state, keep_partial_text=True) == [{"type": "text", "text": "Let me look at"}]
    assert state.blocks[0].snapshot()["text"] == "Let me look at"


@pytest.mark.parametrize(("raw", "why"), [('{"command": tru', "not valid JSON"), ("[1, 2]", "JSON object")])
def test_invalid_tool_json_is_reported_not_raised(raw: str, why: str) -> None:
    events = [START, ev(type="content_block_start", index=0,
                        content_block={"type": "tool_use", "id": "toolu_x", "name": "bash", "input": {}}),
              ev(type="content_block_delta", index=0, delta={"type": "input_json_delta", "partial_json": raw}),
              ev(type="content_block_stop", index=0)]
    _, actions = replay(events)
    closed = actions[-1]
    assert isinstance(closed, BlockStopped) and why in closed.input_error
    assert closed.block["input"] == {"INVALID_JSON": raw}


def test_tool_without_arguments_keeps_empty_input() -> None:
    events = [START, ev(type="content_block_start", index=0,
                        content_block={"type": "tool_use", "id": "toolu_y", "name": "computer", "input": {}}),
              ev(type="content_block_delta", index=0, delta={"type": "input_json_delta", "partial_json": ""}),
              ev(type="content_block_stop", index=0)]
    _, actions = replay(events)
    assert actions[-1].block["input"] == {} and actions[-1].input_error is None
    assert isinstance(actions[1], BlockStarted) and actions[1].tool_use_id == "toolu_y"


@pytest.mark.parametrize("bad", [
    [ev(type="content_block_start", index=0, content_block={"type": "text", "text": ""})],
    [START, ev(type="content_block_delta", index=3, delta={"type": "text_delta", "text": "x"})],
    [START, ev(type="content_block_stop", index=0)],
])
def test_protocol_violations_raise(bad: list[dict]) -> None:
    with pytest.raises(StreamProtocolError):
        replay(bad)


def test_state_is_reused_and_ping_or_unknown_events_are_ignored() -> None:
    state = TurnState()
    state, acts = apply_event(state, ev(type="ping"))
    assert acts == [] and not state.started
    state, _ = apply_event(state, START)
    state2, acts = apply_event(state, ev(type="some_future_event", x=1))
    assert state2 is state and acts == []


def test_events_are_labelled_with_the_iteration_and_stamped_by_the_injected_clock() -> None:
    ticks = iter(range(1000))
    state = TurnState(iteration=3, clock=lambda: float(next(ticks)))
    out = []
    for payload in load_fixture("basic_response.txt"):
        state, produced = apply_event(state, payload)
        out.extend(produced)
    assert {e.iteration for e in out} == {3}
    assert [e.t for e in out] == [float(i) for i in range(len(out))]  # deterministic: no wall clock read
    assert [e.text for e in out if isinstance(e, TextDelta)] == ["Hello", " there", "!"]
    assert isinstance(out[-3], BlockStopped) and out[-3].block == final_blocks(state)[0]


def test_the_event_vocabulary_lists_every_event_once() -> None:
    from dc_impl.stream import events

    declared = {obj for obj in vars(events).values()
                if isinstance(obj, type) and issubclass(obj, events.StreamEvent) and obj is not events.StreamEvent}
    assert set(events.EVENT_TYPES) == declared
    assert len({cls.kind for cls in events.EVENT_TYPES}) == len(events.EVENT_TYPES)
