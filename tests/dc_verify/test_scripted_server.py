"""The scripted Messages API server, driven by the real anthropic client over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic import Anthropic, AsyncAnthropic

from dc_verify.scenario import scenario_names
from dc_verify.scripted_server import ScriptedServer, load_scenario
from dc_verify.sse import parse_sse

MODEL = "claude-sonnet-4-6"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sdk-sse"  # in-repo copy of the SDK fixtures
USER = [{"role": "user", "content": "hi, please run echo hi"}]


def sync_client(srv: ScriptedServer, retries: int = 0) -> Anthropic:
    return Anthropic(base_url=srv.base_url, api_key="test", max_retries=retries)


def async_client(srv: ScriptedServer, retries: int = 0) -> AsyncAnthropic:
    return AsyncAnthropic(base_url=srv.base_url, api_key="test", max_retries=retries)


def params(block: Any) -> dict[str, Any]:
    """A finished SDK block as request params (what a correct loop replays)."""
    d = block.model_dump(exclude_none=True)
    d.pop("parsed_output", None)
    return d


def expected_content(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for b in blocks:
        if b["type"] == "text":
            out.append({"type": "text", "text": b["text"]})
        elif b["type"] == "thinking":
            out.append({"type": "thinking", "thinking": b["thinking"], "signature": b["signature"]})
        elif b["type"] == "redacted_thinking":
            out.append({"type": "redacted_thinking", "data": b["data"]})
        else:
            out.append({"type": "tool_use", "id": b["id"], "name": b["name"], "input": b["input"]})
    return out


def stream_sync(srv: ScriptedServer, messages: list[dict[str, Any]], **kw: Any) -> Any:
    with sync_client(srv, kw.pop("retries", 0)).beta.messages.stream(
        model=MODEL, max_tokens=kw.pop("max_tokens", 2048), messages=messages, **kw
    ) as stream:
        for _ in stream:
            pass
        return stream.get_final_message()


def tool_results(message: Any, text: str = "ok") -> dict[str, Any]:
    ids = [b.id for b in message.content if b.type == "tool_use"]
    return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": i, "content": text} for i in ids]}


def run_conversation(srv: ScriptedServer, **kw: Any) -> list[Any]:
    """Drive every turn of the server's scenario like a correct agent loop; return the final messages."""
    messages: list[dict[str, Any]] = list(USER)
    finals = []
    for _ in srv.scenario.turns:
        final = stream_sync(srv, messages, **kw)
        finals.append(final)
        messages.append({"role": "assistant", "content": [params(b) for b in final.content]})
        if final.stop_reason == "tool_use":
            messages.append(tool_results(final, "hi\n"))
        else:
            messages.append({"role": "user", "content": "thanks"})
    return finals


def test_text_only_stream_sync_matches_script() -> None:
    with ScriptedServer("text_only") as srv:
        final = stream_sync(srv, USER)
        assert final.stop_reason == "end_turn"
        assert [params(b) for b in final.content] == expected_content(srv.scenario.turns[0].blocks)
        assert final.id.startswith("msg_")
        assert srv.turns_served == 1 and srv.remaining_turns == 0
        assert srv.violations == []
        kinds = [e for (i, e, _t) in srv.events_sent if i == 0]
        assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
        assert "ping" in kinds
        assert srv.t_message_stop(0) is not None and srv.t_message_stop(5) is None


async def test_bash_tool_async_two_turns() -> None:
    with ScriptedServer("bash_tool") as srv:
        client = async_client(srv)
        messages: list[dict[str, Any]] = list(USER)
        async with client.beta.messages.stream(model=MODEL, max_tokens=1024, messages=messages) as stream:
            stops = [e.content_block.type async for e in stream if e.type == "content_block_stop"]
            first = await stream.get_final_message()
        assert stops == ["text", "tool_use"]
        tool = first.content[1]
        assert (tool.name, tool.input) == ("bash", {"command": "echo hi"})
        messages += [{"role": "assistant", "content": [params(b) for b in first.content]}, tool_results(first, "hi\n")]
        async with client.beta.messages.stream(model=MODEL, max_tokens=1024, messages=messages) as stream:
            second = await stream.get_final_message()
        assert second.content[0].text == "The command printed hi."
        assert srv.violations == [] and srv.turns_served == 2
        deltas = [e for (i, e, _t) in srv.events_sent if i == 0 and e == "content_block_delta"]
        assert len(deltas) > 5  # tool input really arrived in small pieces


def test_non_streaming_create_gets_whole_message() -> None:
    with ScriptedServer("bash_tool") as srv:
        msg = sync_client(srv).beta.messages.create(model=MODEL, max_tokens=1024, messages=USER)
        assert msg.stop_reason == "tool_use"
        assert [params(b) for b in msg.content] == expected_content(srv.scenario.turns[0].blocks)
        assert srv.requests[0].outcome == "served" and srv.turns_served == 1


def test_expect_failure_is_400_and_violation_and_keeps_turn() -> None:
    with ScriptedServer("bash_tool") as srv:
        first = stream_sync(srv, USER)
        bad = [*USER, {"role": "assistant", "content": [params(b) for b in first.content]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_other", "content": "x"}]}]
        with pytest.raises(anthropic.BadRequestError) as err:
            sync_client(srv).beta.messages.create(model=MODEL, max_tokens=1024, messages=bad)
        assert err.value.body["type"] == "error"
        assert err.value.body["error"]["type"] == "invalid_request_error"
        assert err.value.body["request_id"].startswith("req_")
        assert {v.rule for v in srv.violations} >= {"R2"}
        assert srv.violations[0].request_index == 1
        assert srv.turns_served == 1  # the bad request did not consume turn 1


def test_strict_no_turn_left() -> None:
    with ScriptedServer("text_only", strict=True) as srv:
        stream_sync(srv, USER)
        with pytest.raises(anthropic.BadRequestError):
            sync_client(srv).beta.messages.create(model=MODEL, max_tokens=100, messages=USER)
        assert [(v.rule, v.message) for v in srv.violations] == [("scenario", "no scripted turn left")]
    with ScriptedServer("text_only") as srv:
        stream_sync(srv, USER)
        extra = stream_sync(srv, USER)
        assert "no turns left" in extra.content[0].text and srv.violations == []


def test_every_shipped_scenario_loads() -> None:
    names = scenario_names()
    assert {"text_only", "bash_tool"} <= set(names)
    for name in names:
        assert load_scenario(name).name == name


def test_fixture_framing_matches_basic_response() -> None:
    fixture = (FIXTURES / "basic_response.txt").read_text()
    scenario = {
        "name": "basic",
        "turns": [{
            "blocks": [{"type": "text", "text": "Hello there!", "chunks": ["Hello", " there", "!"]}],
            "usage": {"input_tokens": 11, "output_tokens": 6},
            "inject": [{"kind": "ping", "at": "after_block_start:0"}],
        }],
    }
    with ScriptedServer(scenario) as srv, httpx2.Client() as http:
        body = {"model": MODEL, "max_tokens": 64, "stream": True, "messages": USER}
        resp = http.post(f"{srv.base_url}/v1/messages", json=body)
        raw = resp.content
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers["request-id"].startswith("req_")
    assert raw.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    ours, theirs = parse_sse(raw), parse_sse(fixture + "\n\n")

    def shape(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: shape(v) for k, v in obj.items()}
        return type(obj).__name__

    assert [e.event for e in ours] == [e.event for e in theirs]
    # Same JSON keys and value types at every level; same payloads apart from ids and the model name.
    assert [shape(e.json()) for e in ours] == [shape(e.json()) for e in theirs]
    for mine, recorded in zip(ours[1:], theirs[1:], strict=True):
        assert mine.json() == recorded.json()
    assert ours[0].json()["message"]["usage"] == theirs[0].json()["message"]["usage"]
    for line in raw.decode().splitlines():
        if line.startswith("data: ") and "ping" not in line:
            assert line == "data: " + json.dumps(json.loads(line[6:]), separators=(",", ":"))


def test_requests_recorded_with_headers_and_betas() -> None:
    with ScriptedServer("text_only") as srv:
        t0 = time.monotonic()
        stream_sync(srv, USER, betas=["interleaved-thinking-2025-05-14", "computer-use-2025-01-24"])
        rec = srv.requests[0]
        assert rec.body["messages"] == USER and rec.body["stream"] is True
        assert rec.betas == ("interleaved-thinking-2025-05-14", "computer-use-2025-01-24")
        assert "test" in (rec.headers.get("x-api-key", "") + rec.headers.get("authorization", ""))
        assert rec.t_received >= t0
