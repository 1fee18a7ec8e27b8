"""The scripted Messages API server, driven by the real anthropic client over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic import Anthropic, AsyncAnthropic

from dc_verify.fake_api.sse import parse_sse
from dc_verify.scripted_server import ScriptedServer

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


def run_tool(name: str, tool_input: dict[str, Any]) -> str:
    """A minimal real bash / edit tool, enough for the scenarios' expectations."""
    if name == "bash":
        done = subprocess.run(tool_input["command"], shell=True, capture_output=True, text=True, timeout=30)
        return done.stdout + done.stderr or "(no output)"
    path = Path(tool_input["path"])
    if tool_input["command"] == "create":
        path.write_text(tool_input["file_text"])
        return f"File created successfully at: {path}"
    return path.read_text() if path.is_file() else f"The path {path} does not exist."


def run_conversation(srv: ScriptedServer, **kw: Any) -> list[Any]:
    """Drive every turn of the server's scenario like a correct agent loop; return the final messages."""
    messages: list[dict[str, Any]] = list(USER)
    finals = []
    for _ in srv.scenario.turns:
        final = stream_sync(srv, messages, **dict(kw))
        finals.append(final)
        messages.append({"role": "assistant", "content": [params(b) for b in final.content if b.type != "text" or b.text]})
        if final.stop_reason == "tool_use":
            results = [{"type": "tool_result", "tool_use_id": b.id, "content": run_tool(b.name, b.input)}
                       for b in final.content if b.type == "tool_use"]
            messages.append({"role": "user", "content": results})
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


CACHE = {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "service_tier": "standard"}
FIXTURE_TURNS: dict[str, dict[str, Any]] = {
    "basic_response.txt": {
        "model": "claude-3-opus-latest",
        "blocks": [{"type": "text", "text": "Hello there!", "chunks": ["Hello", " there", "!"]}],
        "usage": {"input_tokens": 11, "output_tokens": 6},
        "inject": [{"kind": "ping", "at": "after_block_start:0"}],
    },
    "tool_use_response.txt": {
        "model": "claude-sonnet-4-20250514",
        "blocks": [
            {"type": "text", "text": "I'll check the current weather in Paris for you.",
             "chunks": ["I", "'ll check the current weather in Paris for you."]},
            {"type": "tool_use", "id": "toolu_01NRLabsLyVHZPKxbKvkfSMn", "name": "get_weather", "caller": {"type": "direct"},
             "input": {"location": "Paris"}, "chunks": ['{"locati', 'on": "P', "ar", 'is"}']},
        ],
        "usage": {"input_tokens": 377, "output_tokens": 65, **CACHE},
        "inject": [{"kind": "ping", "at": "after_block_start:0"}],
    },
    "incomplete_partial_json_response.txt": {
        "model": "claude-3-7-sonnet-20250219",
        "blocks": [
            {"type": "text", "text": "I'll create a comprehensive tax guide for someone with multiple W2s and save it in a "
             "file called taxes.txt. Let me do that for you now.",
             "chunks": ["I", "'ll create a comprehensive tax guide for", " someone with multiple W2s an",
                        "d save it in a file called taxes.txt. Let", " me do that for you now."]},
            {"type": "tool_use", "id": "toolu_01EKqbqmZrGRXy18eN7m9kvY", "name": "make_file", "input": {}, "truncated": True,
             "partial_json": '{"filename": "taxes.txt", "lines_of_text": [\n"# COMPREHENSIVE TAX GUIDE FOR INDIVIDUALS WITH '
             'MULTIPLE W-2s",\n"",\n"## INTRODUCTION",\n"",\n"Filing taxes',
             "chunks": ['{"filename": "taxes.txt', '", "lines_of_text": [\n"# COMPREHENSIVE TAX GUIDE FOR INDIVIDUALS '
                        'WITH MULTIPLE W-2s",\n"",\n"## INTRODUCTION",\n"",', '\n"Filing taxes']},
        ],
        "stop_reason": "max_tokens",
        "usage": {"input_tokens": 450, "output_tokens": 124, **CACHE},
        "inject": [{"kind": "ping", "at": "after_block_start:0"}],
    },
    "refusal_response.txt": {
        "model": "claude-opus-4-7",
        "blocks": [{"type": "text", "text": ""}],
        "stop_reason": "refusal",
        "stop_details": {"type": "refusal", "category": "cyber", "explanation": "This request was refused due to policy."},
        "usage": {"input_tokens": 20, "output_tokens": 0},
    },
}


@pytest.mark.parametrize("fixture", sorted(FIXTURE_TURNS))
def test_wire_bytes_match_the_sdk_fixtures(fixture: str) -> None:
    recorded = (FIXTURES / fixture).read_text()
    with ScriptedServer({"name": "fixture", "turns": [FIXTURE_TURNS[fixture]]}) as srv, httpx2.Client() as http:
        body = {"model": MODEL, "max_tokens": 64, "stream": True, "messages": USER}
        resp = http.post(f"{srv.base_url}/v1/messages", json=body)
        raw = resp.content
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers["request-id"].startswith("req_")
    assert raw.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')  # blank line after message_stop
    ours, theirs = parse_sse(raw), parse_sse(recorded.rstrip("\n") + "\n\n")
    assert [e.event for e in ours] == [e.event for e in theirs]
    start_ours, start_theirs = ours[0].json(), theirs[0].json()
    assert start_ours["message"].pop("id").startswith("msg_")
    start_theirs["message"].pop("id")
    assert start_ours == start_theirs
    for mine, other in zip(ours[1:], theirs[1:], strict=True):
        assert mine.json() == other.json()
    for line in raw.decode().splitlines():  # compact JSON, except the ping's documented space
        if line.startswith("data: "):
            compact = json.dumps(json.loads(line[6:]), separators=(",", ":"), ensure_ascii=False)
            assert line == "data: " + compact or line == 'data: {"type": "ping"}'


def test_requests_recorded_with_headers_and_betas() -> None:
    with ScriptedServer("text_only") as srv:
        t0 = time.monotonic()
        stream_sync(srv, USER, betas=["interleaved-thinking-2025-05-14", "computer-use-2025-01-24"])
        rec = srv.requests[0]
        assert rec.body["messages"] == USER and rec.body["stream"] is True
        assert rec.betas == ("interleaved-thinking-2025-05-14", "computer-use-2025-01-24")
        assert "test" in (rec.headers.get("x-api-key", "") + rec.headers.get("authorization", ""))
        assert rec.t_received >= t0


THINKING = {"type": "enabled", "budget_tokens": 1024}
CLEAN = ["text_only", "bash_tool", "two_tools", "thinking_tool", "redacted_thinking", "refusal", "demo"]


@pytest.mark.parametrize("name", CLEAN)
def test_sdk_parses_every_clean_scenario_and_replay_is_valid(name: str, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("remember the milk\n")
    with ScriptedServer(name, strict=True, variables={"WORKDIR": str(tmp_path)}) as srv:
        finals = run_conversation(srv, thinking=THINKING, max_tokens=4096)
        for turn, final in zip(srv.scenario.turns, finals, strict=True):
            assert [params(b) for b in final.content] == expected_content(turn.blocks)
            assert final.stop_reason == turn.stop_reason
        assert srv.violations == []
        assert srv.turns_served == len(srv.scenario.turns) and srv.remaining_turns == 0


def test_max_tokens_in_tool_has_partial_input_and_no_block_stop() -> None:
    with ScriptedServer("max_tokens_in_tool") as srv:
        with sync_client(srv).beta.messages.stream(model=MODEL, max_tokens=1024, messages=USER) as stream:
            stopped = [e.content_block.type for e in stream if e.type == "content_block_stop"]
            final = stream.get_final_message()
        assert stopped == ["text"]  # the cut tool_use never got its content_block_stop
        assert final.stop_reason == "max_tokens"
        tool = final.content[1]
        assert tool.type == "tool_use" and tool.input.get("command") == "create"
        assert "file_text" not in tool.input or tool.input["file_text"] != "# Rep\n"
        assert srv.violations == [] and srv.turns_served == 1


async def test_thinking_tool_async_and_replay_must_be_unchanged() -> None:
    with ScriptedServer("thinking_tool") as srv:
        client = async_client(srv)
        async with client.beta.messages.stream(model=MODEL, max_tokens=4096, messages=USER, thinking=THINKING) as stream:
            kinds = [e.type async for e in stream]
            first = await stream.get_final_message()
        assert "thinking" in kinds and "signature" in kinds
        assert first.content[0].signature == srv.scenario.turns[0].blocks[0]["signature"]
        good = [params(b) for b in first.content]
        edited = [dict(good[0], thinking="I changed my mind."), *good[1:]]
        dropped = good[1:]

        def history(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [*USER, {"role": "assistant", "content": content}, tool_results(first, "4.0K\t.")]

        for bad, rule in ((edited, "R5"), (dropped, "R6")):
            with pytest.raises(anthropic.BadRequestError) as err:
                await client.beta.messages.create(model=MODEL, max_tokens=4096, messages=history(bad), thinking=THINKING)
            assert srv.violations[-1].rule == rule
            assert err.value.body["error"]["message"] == srv.violations[-1].message
        assert srv.turns_served == 1
        final = await client.beta.messages.create(model=MODEL, max_tokens=4096, messages=history(good), thinking=THINKING)
        assert final.content[-1].text == "That is the size of the directory."
        assert srv.turns_served == 2 and len(srv.violations) == 2


def test_error_event_midstream_then_clean_retry() -> None:
    with ScriptedServer("overloaded_midstream") as srv:
        seen: list[str] = []
        client = sync_client(srv)
        with pytest.raises(anthropic.APIStatusError) as err, client.beta.messages.stream(
            model=MODEL, max_tokens=512, messages=USER
        ) as stream:
            for event in stream:
                if event.type == "text":
                    seen.append(event.text)
        assert err.value.type == "overloaded_error" and err.value.status_code == 200
        assert len(seen) == 2  # the error came after the 2nd delta
        assert srv.turns_served == 0 and srv.requests[0].outcome == "error"
        final = stream_sync(srv, USER)
        assert final.content[0].text == srv.scenario.turns[0].blocks[0]["text"]
        assert (srv.requests[1].turn_index, srv.requests[1].attempt, srv.turns_served) == (0, 2, 1)
        assert [f.kind for f in srv.injections_fired] == ["error"]


async def test_drop_midstream_raises_transport_error_then_clean_retry() -> None:
    with ScriptedServer("drop_midstream") as srv:
        client = async_client(srv)
        with pytest.raises(httpx2.TransportError) as err:
            async with client.beta.messages.stream(model=MODEL, max_tokens=512, messages=USER) as stream:
                async for _ in stream:
                    pass
        assert isinstance(err.value, httpx2.RemoteProtocolError)
        assert srv.turns_served == 0 and srv.requests[0].outcome == "drop"
        async with client.beta.messages.stream(model=MODEL, max_tokens=512, messages=USER) as stream:
            final = await stream.get_final_message()
        assert final.content[1].input == {"command": "echo dropped"}
        assert srv.turns_served == 1


def test_status_529_is_retried_by_the_sdk() -> None:
    with ScriptedServer("status_529") as srv:
        final = stream_sync(srv, USER, retries=2)
        assert final.content[0].text == "Answered after one retry."
        assert [(r.status, r.outcome) for r in srv.requests] == [(529, "status"), (200, "served")]
        assert srv.requests[1].headers["x-stainless-retry-count"] == "1"
    with ScriptedServer("status_529") as srv, httpx2.Client() as http:
        resp = http.post(f"{srv.base_url}/v1/messages", json={"model": MODEL, "max_tokens": 9, "messages": USER})
        assert resp.status_code == 529 and resp.headers["retry-after"] == "1"
        assert resp.json()["error"] == {"type": "overloaded_error", "message": "Overloaded"}
        assert resp.headers["request-id"] == resp.json()["request_id"]
    with ScriptedServer("status_529") as srv, pytest.raises(anthropic.APIStatusError) as err:
        stream_sync(srv, USER, retries=0)
    assert err.value.status_code == 529


def test_pacing_is_real_and_pings_are_sent() -> None:
    with ScriptedServer("slow_text") as srv:
        arrivals: list[float] = []
        with sync_client(srv).beta.messages.stream(model=MODEL, max_tokens=512, messages=USER) as stream:
            for event in stream:
                if event.type == "text":
                    arrivals.append(time.monotonic())
        sent = [t for (_i, e, t) in srv.events_sent if e == "content_block_delta"]
        assert len(sent) > 25
        assert sent[-1] - sent[0] > 1.2  # ~2 s of scripted pacing
        assert arrivals[-1] - arrivals[0] > 1.0  # and the client saw it arrive progressively
        assert sum(1 for (_i, e, _t) in srv.events_sent if e == "ping") >= 3


def test_pause_after_block_lets_a_tool_start_before_message_stop() -> None:
    scenario = {
        "name": "pause",
        "turns": [{"blocks": [
            {"type": "tool_use", "id": "toolu_01Pause", "name": "bash", "input": {"command": "true"}, "pause_after_s": 0.6},
            {"type": "text", "text": "after the pause"},
        ]}],
    }
    with ScriptedServer(scenario) as srv:
        with sync_client(srv).beta.messages.stream(model=MODEL, max_tokens=512, messages=USER) as stream:
            t_tool = next(time.monotonic() for e in stream if e.type == "content_block_stop")
            for _ in stream:
                pass
        assert srv.t_message_stop(0) - t_tool > 0.4


def test_stall_with_keepalive_pings_and_client_timeout_then_clean_retry() -> None:
    scenario = {
        "name": "stall",
        "turns": [{"blocks": [{"type": "text", "text": "late"}],
                   "inject": [{"kind": "stall", "at": "after_message_start", "seconds": 0.5, "keepalive_ping_s": 0.1}]}],
    }
    with ScriptedServer(scenario) as srv:
        t0 = time.monotonic()
        final = stream_sync(srv, USER)
        assert final.content[0].text == "late" and time.monotonic() - t0 >= 0.45
        assert sum(1 for (_i, e, _t) in srv.events_sent if e == "ping") >= 3
    silent = {"name": "stall2", "turns": [{"blocks": [{"type": "text", "text": "late"}],
                                           "inject": [{"kind": "stall", "at": "in_block:0", "seconds": 1.2}]}]}
    with ScriptedServer(silent) as srv:
        client = Anthropic(base_url=srv.base_url, api_key="test", max_retries=0, timeout=0.4)
        with pytest.raises((httpx2.ReadTimeout, anthropic.APITimeoutError)), client.beta.messages.stream(
            model=MODEL, max_tokens=64, messages=USER
        ) as stream:
            for _ in stream:
                pass
        assert stream_sync(srv, USER).content[0].text == "late"  # attempt 2: no stall
        assert srv.wait_for(lambda s: 0 in s.disconnects, timeout=5)
        assert srv.requests[0].outcome == "disconnected" and srv.turns_served == 1


@pytest.mark.parametrize(
    ("inj", "raises"),
    [
        ({"kind": "malformed", "at": "after_delta:1"}, ValueError),
        ({"kind": "malformed", "at": "after_delta:1", "variant": "unknown_event", "continue": True}, None),
        ({"kind": "error", "at": "before_message_start", "error_type": "api_error"}, anthropic.APIStatusError),
    ],
)
def test_malformed_and_early_error_injections(inj: dict[str, Any], raises: type[Exception] | None) -> None:
    scenario = {"name": "m", "turns": [{"blocks": [{"type": "text", "text": "Hello there friend", "chunk_size": 4}],
                                        "inject": [inj]}]}
    with ScriptedServer(scenario) as srv:
        if raises is None:
            assert stream_sync(srv, USER).content[0].text == "Hello there friend"
            assert srv.turns_served == 1
        else:
            with pytest.raises(raises):
                stream_sync(srv, USER)
            assert srv.turns_served == 0
            assert stream_sync(srv, USER).content[0].text == "Hello there friend"
        assert [f.kind for f in srv.injections_fired] == [inj["kind"]]


def test_non_streaming_injections_status_and_drop_are_retried() -> None:
    scenario = {"name": "ns", "turns": [{"blocks": [{"type": "text", "text": "fine"}],
                                         "inject": [{"kind": "status", "status": 429, "times": 1},
                                                    {"kind": "drop", "at": "after_message_start", "times": 2}]}]}
    with ScriptedServer(scenario) as srv:
        msg = sync_client(srv, retries=3).beta.messages.create(model=MODEL, max_tokens=64, messages=USER)
        assert msg.content[0].text == "fine"
        assert [r.outcome for r in srv.requests] == ["status", "drop", "served"]


def test_cli_prints_base_url_first_and_serves() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dc_verify.scripted_server", "--scenario", "text_only"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        client = Anthropic(base_url=base_url, api_key="test", max_retries=0)
        msg = client.beta.messages.create(model=MODEL, max_tokens=64, messages=USER)
        assert msg.content[0].text.startswith("Hello there!")
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_request_ids_unique_on_a_keep_alive_connection_and_bad_json_is_a_violation() -> None:
    with ScriptedServer("bash_tool") as srv, httpx2.Client() as http:
        url = f"{srv.base_url}/v1/messages"
        body = {"model": MODEL, "max_tokens": 64, "messages": USER}
        first, second = http.post(url, json=body), http.post(url, content=b"{not json", headers={"content-type": "application/json"})
        assert first.status_code == 200 and second.status_code == 400
        assert [r.request_id for r in srv.requests] == [first.headers["request-id"], second.headers["request-id"]]
        assert first.headers["request-id"] != second.headers["request-id"]
        assert second.json()["request_id"] == second.headers["request-id"]
        assert [(v.rule, v.request_index) for v in srv.violations] == [("params", 1)]
        assert http.get(f"{srv.base_url}/v1/models").json()["error"]["type"] == "not_found_error"


@pytest.mark.parametrize(("length", "status", "etype"), [
    ("99999999999", 413, "request_too_large"), ("-5", 400, "invalid_request_error"),
    ("abc", 400, "invalid_request_error")])
def test_bad_content_length_is_answered_like_the_api_and_the_server_survives(length: str, status: int,
                                                                             etype: str) -> None:
    import socket

    with ScriptedServer("text_only") as srv:
        host, port = srv.base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(f"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                         f"content-length: {length}\r\n\r\n{{}}".encode())
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(f"HTTP/1.1 {status} ".encode())
        assert json.loads(body)["error"]["type"] == etype
        assert [v.rule for v in srv.violations] == ["params"]
        ok = Anthropic(base_url=srv.base_url, api_key="k", max_retries=0).messages.create(
            model=MODEL, max_tokens=64, messages=USER)
        assert ok.content[0].type == "text"


def test_scripted_error_status_turn_is_consumed() -> None:
    scenario = {"name": "scripted400", "turns": [
        {"status": 400, "error_type": "invalid_request_error", "error_message": "prompt is too long"},
        {"blocks": [{"type": "text", "text": "shorter now"}]},
    ]}
    with ScriptedServer(scenario, strict=True) as srv:
        with pytest.raises(anthropic.BadRequestError) as err:
            stream_sync(srv, USER)
        assert err.value.body["error"] == {"type": "invalid_request_error", "message": "prompt is too long"}
        assert srv.violations == [] and srv.turns_served == 1
        assert stream_sync(srv, USER).content[0].text == "shorter now"
