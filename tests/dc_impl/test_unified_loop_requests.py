"""What the unified loop puts on the wire, compared with upstream's loop: betas, prompt caching, thinking,
image truncation per provider, and the provider clients (built lazily, per request, like upstream's)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from unified_loop_kit import Recorder, run_loop, user

from dc_impl.stream import host
from dc_impl.stream.history import RetryPolicy
from dc_impl.stream.loop import LoopParams, _Loop
from dc_impl.stream.runner import ToolRunner
from dc_verify.scripted_server import ScriptedServer, load_scenario


def image_result(tid: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tid, "is_error": False,
            "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}]}


def history_with_images(n: int) -> list[dict[str, Any]]:
    """``n`` screenshot tool calls and their image results, then a user question."""
    messages: list[dict[str, Any]] = [user("look")]
    for i in range(n):
        tid = f"toolu_img{i}"
        messages.append({"role": "assistant", "content": [
            {"type": "tool_use", "id": tid, "name": "computer", "input": {"action": "screenshot"}}]})
        messages.append({"role": "user", "content": [image_result(tid)]})
    messages.append({"role": "assistant", "content": [{"type": "text", "text": "seen"}]})
    messages.append(user("and now?"))
    return messages


def count_images(messages: list[dict[str, Any]]) -> int:
    return sum(1 for m in messages if isinstance(m["content"], list) for b in m["content"]
               if b.get("type") == "tool_result" for c in b["content"] if c.get("type") == "image")


def test_first_party_request_has_upstreams_betas_caching_and_thinking(monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedServer(load_scenario("text_only")) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        import asyncio

        asyncio.run(run_loop(history_with_images(3), Recorder(), tools=None, thinking_budget=2048,
                             token_efficient_tools_beta=True, only_n_most_recent_images=1,
                             system_prompt_suffix="Be brief."))
        assert srv.violations == []
    req = srv.requests[0]
    body = req.body
    assert set(req.betas) >= {"computer-use-2025-01-24", host.PROMPT_CACHING_BETA_FLAG,
                              host.TOKEN_EFFICIENT_TOOLS_BETA_FLAG, host.INTERLEAVED_THINKING_BETA_FLAG}
    assert body["stream"] is True and body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["system"][0]["text"].endswith(" Be brief.")
    user_turns = [m for m in body["messages"] if m["role"] == "user"]
    assert [("cache_control" in m["content"][-1]) for m in user_turns] == [False, False, True, True, True]
    assert count_images(body["messages"]) == 3  # first party: images kept, the cache is worth more
    assert sorted(t["name"] for t in body["tools"]) == ["bash", "str_replace_based_edit_tool"]


def _loop_for(provider: str, messages: list[dict[str, Any]], only_n: int | None) -> _Loop:
    params = LoopParams(model="m", provider=provider, api_key="k", messages=messages, only_n_most_recent_images=only_n,
                        stream_idle_timeout_s=30.0, retry=RetryPolicy())
    return _Loop(params, ToolRunner([], lambda e: None), ["computer-use-2025-01-24"], None)


@pytest.mark.parametrize("provider", ["bedrock", "vertex"])
def test_cloud_providers_truncate_images_and_skip_prompt_caching(provider: str) -> None:
    messages = history_with_images(5)
    kwargs = _loop_for(provider, messages, only_n=2)._request_kwargs()
    assert kwargs["betas"] == ["computer-use-2025-01-24"]
    assert "cache_control" not in kwargs["system"][0]
    assert not any("cache_control" in b for m in messages if isinstance(m["content"], list) for b in m["content"])
    assert count_images(messages) == 3  # 5 - (3 rounded down to the threshold 2) = 3, as upstream


def test_provider_clients_are_built_lazily_and_per_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("CLOUD_ML_REGION", "us-east5")
    monkeypatch.setenv("ANTHROPIC_VERTEX_PROJECT_ID", "project")
    from anthropic import AsyncAnthropic, AsyncAnthropicBedrock, AsyncAnthropicVertex

    assert "boto3" not in sys.modules and "google.auth" not in sys.modules  # nothing cloud at import time
    assert isinstance(host.make_async_client("bedrock", "ignored"), AsyncAnthropicBedrock)
    assert isinstance(host.make_async_client(host.APIProvider.VERTEX, "ignored"), AsyncAnthropicVertex)
    first_party = host.make_async_client("anthropic", "key")
    assert isinstance(first_party, AsyncAnthropic) and first_party.max_retries == 4
    with pytest.raises(ValueError, match="Unknown API provider"):
        host.make_async_client("azure", "key")


def test_missing_cloud_settings_fail_like_upstream(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No region: the client constructor's own error escapes the loop, as with upstream's sync clients."""
    import asyncio

    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    messages = [user("hi")]
    with pytest.raises(ValueError, match="region"):
        asyncio.run(run_loop(messages, Recorder(), provider="bedrock"))
    assert messages == [user("hi")]


def test_pause_turn_is_continued_without_a_new_user_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """§5.3: on ``pause_turn`` the loop appends the paused message and asks again, adding nothing."""
    import asyncio

    scn = {"name": "pause", "description": "pause_turn then the rest", "turns": [
        {"blocks": [{"type": "text", "text": "Searching, this takes a while."}], "stop_reason": "pause_turn"},
        {"blocks": [{"type": "text", "text": "Found it."}], "stop_reason": "end_turn"}]}
    with ScriptedServer(scn) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        rec = Recorder()
        messages = asyncio.run(run_loop([user("find it")], rec))
        assert srv.violations == [] and len(srv.requests) == 2
    assert [(m["role"], [b["text"] for b in m["content"]]) for m in srv.requests[1].body["messages"]] == [
        ("user", ["find it"]), ("assistant", ["Searching, this takes a while."])]
    assert [m["role"] for m in messages] == ["user", "assistant", "assistant"]
    assert messages[-1]["content"] == [{"type": "text", "text": "Found it."}]
    assert [e.outcome for e in rec.of("done")] == ["completed"]
