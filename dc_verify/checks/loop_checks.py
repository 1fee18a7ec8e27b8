"""Checks of the deployed agent loop, through the scripted Messages API server over real HTTP.

The loop is reached the way production reaches it: with a target whose loop hook is installed,
``<package>.loop.sampling_loop`` (the hook dispatches per the deployed toggles, and these checks run
only when ``use_unified_streaming`` is on); otherwise the deployed ``dc_impl.unified_streaming_loop``
directly. The real ``anthropic`` client finds the server through ``ANTHROPIC_BASE_URL``.
"""

from __future__ import annotations

import secrets
from typing import Any

from . import loop_scenarios as sc
from .child_env import CheckFailed, ChildEnv
from .loop_runner import LoopRun, run_loop


def _ensure_clean(run: LoopRun, what: str) -> None:
    if run.error is not None:
        raise CheckFailed(f"{what}: the loop raised {run.error}")
    if run.violations:
        raise CheckFailed(f"{what}: the server rejected requests: {'; '.join(run.violations[:3])}")


def _streamed(run: LoopRun, what: str) -> None:
    if not run.requests or not all(r.get("stream") is True for r in run.requests):
        raise CheckFailed(f"{what}: requests were not streaming (stream={[r.get('stream') for r in run.requests]}); "
                          "the call did not reach the unified streaming loop")


def _tool_results(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def _result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return ""


async def check_loop_text(env: ChildEnv) -> str:
    run = await run_loop(env, sc.text_only(), "Say something.")
    _ensure_clean(run, "text turn")
    _streamed(run, "text turn")
    final = run.messages[-1] if run.messages else {}
    text = "".join(b.get("text", "") for b in final.get("content", []) if isinstance(b, dict))
    if final.get("role") != "assistant" or text != sc.TEXT_REPLY:
        raise CheckFailed(f"the returned history ends with {final!r:.200}, expected the scripted reply")
    if not any(b.get("type") == "text" for b in run.output_blocks):
        raise CheckFailed("output_callback never received the text block")
    deltas = run.count("text_delta")
    if run.has_stream_events and deltas < 3:
        raise CheckFailed(f"stream_callback saw {deltas} text deltas; the reply was sent in many")
    return f"text reply intact via {run.entry}; {deltas} text deltas streamed; {len(run.requests)} request"


async def check_loop_tool_midstream(env: ChildEnv) -> str:
    stamp = env.workdir("loop_midstream") / "stamp"
    run = await run_loop(env, sc.tool_midstream(stamp), "Write the marker.")
    _ensure_clean(run, "tool turn")
    _streamed(run, "tool turn")
    t_stop = run.t_message_stop[0] if run.t_message_stop else None
    if t_stop is None:
        raise CheckFailed("the server never sent message_stop for the first request")
    try:
        t_ran = float(stamp.read_text().strip())
    except (FileNotFoundError, ValueError) as exc:
        raise CheckFailed(f"the bash tool never ran the command ({exc}); tool results: "
                          f"{[_result_text(b) for m in run.messages for b in _tool_results(m)]!r:.200}") from exc
    lead = t_stop - t_ran
    if lead <= 0:
        raise CheckFailed(f"the tool ran {-lead:.2f} s AFTER message_stop: tools start only after the stream "
                          f"ends (the server paused {sc.TOOL_PAUSE_S:g} s after the tool_use block)")
    started = [e for e in run.events if e.kind == "tool_started"]
    note = ""
    if started:
        if started[0].t >= t_stop:
            raise CheckFailed("ToolStarted was emitted after message_stop")
        note = f"; ToolStarted {t_stop - started[0].t:.2f} s before it"
    return f"the bash command ran {lead:.2f} s before message_stop{note}; follow-up valid"


async def check_loop_two_tools(env: ChildEnv) -> str:
    marker = secrets.token_hex(4)
    run = await run_loop(env, sc.two_tools(marker), "Run two commands.")
    _ensure_clean(run, "two-tool turn")
    if len(run.requests) < 2:
        raise CheckFailed(f"the loop sent {len(run.requests)} request(s); the tool results never went back")
    follow = run.requests[1]["messages"]
    last_user = follow[-1]
    results = _tool_results(last_user)
    ids = [b.get("tool_use_id") for b in results]
    want = ["toolu_01VerifyTwoToolsFirst0001", "toolu_01VerifyTwoToolsSecond001"]
    if ids != want:
        raise CheckFailed(f"the follow-up's last user message carries tool results {ids}, expected {want}")
    if last_user["content"][: len(results)] != results:
        raise CheckFailed("tool_result blocks are not first in the user message")
    texts = [_result_text(b) for b in results]
    if f"first-{marker}" not in texts[0] or f"second-{marker}" not in texts[1]:
        raise CheckFailed(f"tool results do not match their commands: {texts!r:.200}")
    if any(b.get("is_error") for b in results):
        raise CheckFailed(f"a tool result is an error: {texts!r:.200}")
    return "both results returned in block order, first in one user message"


async def check_loop_thinking(env: ChildEnv) -> str:
    marker = secrets.token_hex(4)
    run = await run_loop(env, sc.thinking_tool(marker), "Think, then write the marker.", thinking_budget=2048,
                         max_tokens=8192)
    _ensure_clean(run, "thinking turn")
    if len(run.requests) < 2:
        raise CheckFailed(f"the loop sent {len(run.requests)} request(s); no follow-up to inspect")
    first, follow = run.requests[0], run.requests[1]
    thinking = first.get("thinking") or {}
    if thinking.get("type") not in ("enabled", "adaptive"):
        raise CheckFailed(f"thinking was not requested: thinking={thinking!r}")
    assistant = follow["messages"][-2]
    blocks = assistant.get("content", []) if assistant.get("role") == "assistant" else []
    kinds = [b.get("type") for b in blocks]
    if kinds[:2] != ["thinking", "redacted_thinking"]:
        raise CheckFailed(f"the follow-up's assistant message has blocks {kinds}; thinking blocks must come first, "
                          "unchanged")
    th, red = blocks[0], blocks[1]
    if th.get("thinking") != sc.THINKING_TEXT or th.get("signature") != sc.THINKING_SIGNATURE:
        raise CheckFailed(f"the thinking block changed on replay: {th!r:.200}")
    if red.get("data") != sc.REDACTED_DATA:
        raise CheckFailed(f"the redacted_thinking block changed on replay: {red!r:.200}")
    deltas = run.count("thinking_delta")
    return f"thinking + redacted_thinking replayed unchanged with the signature; {deltas} thinking deltas streamed"


async def check_loop_overloaded(env: ChildEnv) -> str:
    counter = env.workdir("loop_overloaded") / "runs"
    run = await run_loop(env, sc.overloaded(counter), "Run it once.")
    _ensure_clean(run, "overloaded turn")
    errors = [r for r in run.outcomes if r == "error"]
    if not errors:
        raise CheckFailed(f"the injected overloaded error never fired (outcomes {run.outcomes})")
    runs = counter.read_text().count("ran") if counter.exists() else 0
    if runs != 1:
        raise CheckFailed(f"the tool ran {runs} times across the retry; it must run exactly once")
    final = run.messages[-1] if run.messages else {}
    text = "".join(b.get("text", "") for b in final.get("content", []) if isinstance(b, dict))
    if text != "Recovered.":
        raise CheckFailed(f"the turn did not complete after the retry: last message {final!r:.200}")
    retries = run.count("retry")
    return f"retried after the mid-stream overloaded_error ({retries} Retry event(s)); tool ran once; completed"


async def check_loop_validation(env: ChildEnv) -> str:
    if not env.scenario_runs:  # run on its own: exercise the richest histories
        for doc, prompt, extra in ((sc.two_tools(secrets.token_hex(4)), "Run two commands.", {}),
                                   (sc.thinking_tool(secrets.token_hex(4)), "Think.",
                                    {"thinking_budget": 2048, "max_tokens": 8192})):
            await run_loop(env, doc, prompt, **extra)
    total = sum(r.requests for r in env.scenario_runs)
    bad = [(r.scenario, v) for r in env.scenario_runs for v in r.violations]
    if bad:
        shown = "; ".join(f"{s}: {v}" for s, v in bad[:4])
        raise CheckFailed(f"{len(bad)} request validation violation(s): {shown}")
    if total == 0:
        raise CheckFailed("no request reached the scripted server")
    return f"0 violations over {total} requests in {len(env.scenario_runs)} scenarios"


CHECKS = {
    "loop_text": check_loop_text,
    "loop_tool_midstream": check_loop_tool_midstream,
    "loop_two_tools": check_loop_two_tools,
    "loop_thinking": check_loop_thinking,
    "loop_overloaded": check_loop_overloaded,
    "loop_validation": check_loop_validation,
}

