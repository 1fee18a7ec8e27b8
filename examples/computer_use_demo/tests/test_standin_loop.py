"""The stand-in sampling_loop against a tiny scripted Messages API on 127.0.0.1 (real HTTP, real SDK)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from computer_use_demo import loop as loop_module
from computer_use_demo.loop import (
    APIProvider,
    _inject_prompt_caching,
    _make_api_tool_result,
    _maybe_filter_to_n_most_recent_images,
    sampling_loop,
)
from computer_use_demo.tools import BashTool20250124, ToolGroup, ToolResult

pytestmark = pytest.mark.usefixtures("reap_bash")


def _message(content: list[dict[str, Any]], stop_reason: str) -> dict[str, Any]:
    return {
        "id": "msg_standin",
        "type": "message",
        "role": "assistant",
        "model": "claude-standin",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }


class ScriptedAPI:
    """Answers POST /v1/messages with the next canned (status, JSON) pair and records each request."""

    def __init__(self, replies: list[tuple[int, dict[str, Any]]]) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                api.requests.append(json.loads(body))
                api.headers.append({k.lower(): v for k, v in self.headers.items()})
                status, payload = (
                    api.replies.pop(0)
                    if self.path.startswith("/v1/messages") and api.replies
                    else (404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> ScriptedAPI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def scripted(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[list[tuple[int, dict[str, Any]]]], ScriptedAPI]]:
    servers: list[ScriptedAPI] = []

    def start(replies: list[tuple[int, dict[str, Any]]]) -> ScriptedAPI:
        api = ScriptedAPI(replies).__enter__()
        servers.append(api)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        return api

    yield start
    for api in servers:
        api.__exit__(None, None, None)


class Recorder:
    def __init__(self) -> None:
        self.outputs: list[Any] = []
        self.tool_outputs: list[tuple[ToolResult, str]] = []
        self.responses: list[tuple[Any, Any, Exception | None]] = []

    def kwargs(self) -> dict[str, Any]:
        return {
            "output_callback": self.outputs.append,
            "tool_output_callback": lambda result, tool_id: self.tool_outputs.append((result, tool_id)),
            "api_response_callback": lambda req, resp, err: self.responses.append((req, resp, err)),
        }


TOOL_USE_THEN_TEXT = [
    (
        200,
        _message(
            [
                {"type": "text", "text": "I'll run it."},
                {"type": "tool_use", "id": "toolu_01", "name": "bash", "input": {"command": "echo hi"}},
            ],
            "tool_use",
        ),
    ),
    (200, _message([{"type": "text", "text": "It printed hi."}], "end_turn")),
]


async def test_tool_round_trip_pinned_upstream_behaviour(scripted) -> None:
    api = scripted(TOOL_USE_THEN_TEXT)
    rec = Recorder()
    messages = [{"role": "user", "content": [{"type": "text", "text": "say hi"}]}]
    result = await sampling_loop(
        model="claude-standin",
        provider=APIProvider.ANTHROPIC,
        system_prompt_suffix="",
        messages=messages,
        api_key="sk-test",
        tool_version="computer_use_20250124",
        **rec.kwargs(),
    )
    assert result is messages
    assert len(messages) == 4
    assert len(api.requests) == 2
    assert len(rec.outputs) == 3
    assert len(rec.responses) == 2 and all(err is None for _, _, err in rec.responses)
    assert [r.status_code for _, r, _ in rec.responses] == [200, 200]

    assert rec.tool_outputs[0][1] == "toolu_01"
    assert rec.tool_outputs[0][0].output == "hi"
    tool_result = messages[2]["content"][0]
    assert tool_result == {
        "type": "tool_result",
        "content": [{"type": "text", "text": "hi"}],
        "tool_use_id": "toolu_01",
        "is_error": False,
        # added in place by _inject_prompt_caching before the second request
        "cache_control": {"type": "ephemeral"},
    }
    second = api.requests[1]
    assert second["messages"][2]["content"][0]["tool_use_id"] == "toolu_01"
    assert second["messages"][2]["content"][0]["content"][0]["text"] == "hi"

    first = api.requests[0]
    assert first["max_tokens"] == 4096 and first["model"] == "claude-standin"
    assert [t["name"] for t in first["tools"]] == ["computer", "str_replace_editor", "bash"]
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert first["system"][0]["text"].startswith("<SYSTEM_CAPABILITY>")
    assert "DISPLAY=:1" in first["system"][0]["text"]
    assert "thinking" not in first
    betas = api.headers[0]["anthropic-beta"].split(",")
    assert betas == ["computer-use-2025-01-24", "prompt-caching-2024-07-31"]
    auth = api.headers[0]
    assert "sk-test" in auth.get("x-api-key", "") + auth.get("authorization", "")


async def test_thinking_budget_and_blocks_kept_intact(scripted) -> None:
    thinking = {"type": "thinking", "thinking": "let me think", "signature": "sig-abc"}
    redacted = {"type": "redacted_thinking", "data": "opaque"}
    api = scripted([(200, _message([thinking, redacted, {"type": "text", "text": "done"}], "end_turn"))])
    rec = Recorder()
    messages: list[Any] = [{"role": "user", "content": "hi"}]
    await sampling_loop(
        model="m",
        provider=APIProvider.ANTHROPIC,
        system_prompt_suffix="Be brief.",
        messages=messages,
        api_key="k",
        tool_version="computer_use_20250429",
        thinking_budget=1024,
        token_efficient_tools_beta=True,
        **rec.kwargs(),
    )
    request = api.requests[0]
    assert request["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert request["system"][0]["text"].endswith(" Be brief.")
    assert api.headers[0]["anthropic-beta"].split(",") == [
        "computer-use-2025-01-24",
        "token-efficient-tools-2025-02-19",
        "prompt-caching-2024-07-31",
    ]
    content = messages[1]["content"]
    assert content[0]["type"] == "thinking" and content[0]["signature"] == "sig-abc"
    assert content[0]["thinking"] == "let me think"
    assert content[1]["type"] == "redacted_thinking" and content[1]["data"] == "opaque"
    assert content[2] == {"type": "text", "text": "done"}
    assert len(rec.outputs) == 3


async def test_api_error_goes_to_callback_and_returns(scripted) -> None:
    error = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad request"}}
    api = scripted([(400, error)])
    rec = Recorder()
    messages: list[Any] = [{"role": "user", "content": "hi"}]
    result = await sampling_loop(
        model="m",
        provider=APIProvider.ANTHROPIC,
        system_prompt_suffix="",
        messages=messages,
        api_key="k",
        tool_version="computer_use_20250124",
        **rec.kwargs(),
    )
    assert result == [{"role": "user", "content": "hi"}]
    assert len(api.requests) == 1
    ((_, response, err),) = rec.responses
    assert response.status_code == 400
    assert "bad request" in str(err)
    assert rec.outputs == []


async def test_tool_groups_looked_up_through_module_global(scripted, monkeypatch: pytest.MonkeyPatch) -> None:
    class OnlyBash(BashTool20250124):
        pass

    custom = {"computer_use_20250124": ToolGroup(version="computer_use_20250124", tools=[OnlyBash])}
    monkeypatch.setattr(loop_module, "TOOL_GROUPS_BY_VERSION", custom)
    api = scripted([(200, _message([{"type": "text", "text": "ok"}], "end_turn"))])
    await sampling_loop(
        model="m",
        provider=APIProvider.ANTHROPIC,
        system_prompt_suffix="",
        messages=[{"role": "user", "content": "hi"}],
        api_key="k",
        tool_version="computer_use_20250124",
        **Recorder().kwargs(),
    )
    assert api.requests[0]["tools"] == [{"type": "bash_20250124", "name": "bash"}]
    assert api.headers[0]["anthropic-beta"] == "prompt-caching-2024-07-31"


def test_make_api_tool_result_shapes() -> None:
    err = _make_api_tool_result(ToolResult(output="dropped", error="boom", system="note"), "t1")
    assert err == {
        "type": "tool_result",
        "content": "<system>note</system>\nboom",
        "tool_use_id": "t1",
        "is_error": True,
    }
    ok = _make_api_tool_result(ToolResult(output="out", base64_image="QUJD", system="s"), "t2")
    assert ok["is_error"] is False
    assert ok["content"] == [
        {"type": "text", "text": "<system>s</system>\nout"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "QUJD"}},
    ]
    # Upstream drops a system-only result (e.g. the bash restart note): empty content.
    assert _make_api_tool_result(ToolResult(system="tool has been restarted."), "t3")["content"] == []


def _image_result(n: int) -> dict[str, Any]:
    return {
        "type": "tool_result",
        "tool_use_id": f"t{n}",
        "content": [{"type": "text", "text": f"shot {n}"}, {"type": "image", "source": {"data": str(n)}}],
    }


def test_image_filter_keeps_most_recent_in_chunks() -> None:
    messages: list[Any] = [{"role": "user", "content": [_image_result(i)]} for i in range(5)]
    _maybe_filter_to_n_most_recent_images(messages, images_to_keep=2, min_removal_threshold=2)
    kept = [c["source"]["data"] for m in messages for c in m["content"][0]["content"] if c["type"] == "image"]
    assert kept == ["2", "3", "4"]  # 3 to remove, rounded down to a chunk of 2
    assert all(m["content"][0]["content"][0]["type"] == "text" for m in messages)


def test_prompt_caching_marks_three_latest_user_turns() -> None:
    messages: list[Any] = []
    for i in range(5):
        messages.append({"role": "user", "content": [{"type": "text", "text": f"u{i}"}]})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": f"a{i}"}]})
    messages[2]["content"][-1]["cache_control"] = {"type": "ephemeral"}
    _inject_prompt_caching(messages)
    marked = [m["content"][-1]["text"] for m in messages if "cache_control" in m["content"][-1]]
    assert marked == ["u2", "u3", "u4"]
    messages.append({"role": "user", "content": [{"type": "text", "text": "u5"}]})
    _inject_prompt_caching(messages)
    marked = [m["content"][-1]["text"] for m in messages if "cache_control" in m["content"][-1]]
    assert marked == ["u3", "u4", "u5"]
