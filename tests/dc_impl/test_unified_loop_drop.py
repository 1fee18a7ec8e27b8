"""Issue 12 item 1: a stream that drops after a tool started is continued, not abandoned.

Real HTTP against the scripted server (which validates every request like the real API and, on a request
that answers the tool_use blocks of a turn that failed, serves the next turn: the model carries on), the
real AsyncAnthropic client and a real ``bash -c`` per call. Each scripted command appends to a file, so
the number of runs is counted on disk, not inferred from events.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from unified_loop_kit import Recorder, result_text, run_loop, scenario, text_turn, tool_results, user

from dc_impl.stream.history import RetryPolicy
from dc_verify.scripted_server import ScriptedServer, load_scenario

BUDGET_2 = RetryPolicy(max_retries=2, base_delay_s=0.02, max_delay_s=0.1, jitter=0.0)


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


def runs(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def shape(messages: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    return [(m["role"], [b["type"] for b in m["content"]]) for m in messages]


def strip_cache(block: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if k != "cache_control"}


def scripted_blocks(turn_blocks: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The first ``n`` scripted blocks in history form (what the server issued, no streaming knobs)."""
    knobs = {"chunk_size", "chunks", "pause_after_s", "truncated"}
    return [{k: v for k, v in b.items() if k not in knobs} for b in turn_blocks[:n]]


async def follow_up_is_valid(serve, messages: list[dict[str, Any]]) -> None:
    """The returned history can go on: the next user text after the pending results (R3), zero violations."""
    history = [dict(m) for m in messages]
    if history[-1]["role"] == "user":
        history[-1] = {"role": "user", "content": [*history[-1]["content"], {"type": "text", "text": "go on"}]}
    else:
        history.append(user("go on"))
    srv = serve(scenario(text_turn("Going on.")))
    out = await run_loop(history, Recorder())
    assert srv.violations == [], [v.message for v in srv.violations]
    assert out[-1]["content"] == [{"type": "text", "text": "Going on."}]


# ------------------------------------------------------------------------------- (a) the model finishes


async def test_drop_after_tool_continues_with_kept_blocks_and_result(serve, tmp_path: Path) -> None:
    srv = serve(load_scenario("drop_after_tool", variables={"WORKDIR": str(tmp_path)}))
    rec = Recorder()
    t0 = time.monotonic()
    messages = await run_loop([user("record a run")], rec)
    elapsed = time.monotonic() - t0
    assert srv.violations == [], [v.message for v in srv.violations]
    assert [r.outcome for r in srv.requests] == ["drop", "served"]  # one continuation, then the model finished
    assert runs(tmp_path / "runs.txt") == ["ran"]  # the tool ran exactly once
    tid = "toolu_01DropAfterTool000000001"
    # the continuation request: the kept blocks (the text after the tool_use was cut) + the real result
    sent = srv.requests[1].body["messages"]
    assert shape(sent) == [("user", ["text"]), ("assistant", ["text", "tool_use"]), ("user", ["tool_result"])]
    assert sent[1]["content"] == scripted_blocks(srv.scenario.turns[0].blocks, 2)
    (result,) = sent[2]["content"]
    assert result["tool_use_id"] == tid and result["is_error"] is False and result_text(result) == "recorded\n"
    # the returned history is that request plus the model's answer
    assert [strip_cache(b) for m in messages[:3] for b in m["content"]] == \
        [strip_cache(b) for m in sent for b in m["content"]]
    assert messages[3] == {"role": "assistant", "content": [
        {"type": "text", "text": "The run is recorded; carrying on from the result."}]}
    # callbacks: upstream's per-request api callback, no error reported for a recovered drop
    assert [err for _, _, err in rec.responses] == [None, None]
    assert [b["type"] for b in rec.outputs] == ["text", "tool_use", "text"] and [t for _, t in rec.tool_outputs] == [tid]
    (retry,) = rec.of("retry")
    assert retry.discard_partial is False and retry.attempt == 1 and retry.error_type == "RemoteProtocolError"
    assert [e.outcome for e in rec.of("done")] == ["completed"]
    assert elapsed < 10
    await follow_up_is_valid(serve, messages)


async def test_drop_after_tool_keeps_signed_thinking_unchanged(serve) -> None:
    srv = serve(load_scenario("drop_after_tool_thinking"))
    rec = Recorder()
    messages = await run_loop([user("check the shell")], rec, thinking_budget=2048, max_tokens=4096)
    assert srv.violations == [], [v.message for v in srv.violations]  # R5/R6 checked on the continuation
    assert [r.outcome for r in srv.requests] == ["drop", "served"]
    kept = srv.requests[1].body["messages"][1]["content"]
    assert kept == scripted_blocks(srv.scenario.turns[0].blocks, 3)  # thinking (signature), text, tool_use
    assert srv.requests[1].body["thinking"] == srv.requests[0].body["thinking"]  # one thinking mode per turn
    assert result_text(tool_results(messages[2])[0]) == "shell-ok\n"
    assert messages[-1]["content"][-1] == {"type": "text", "text": "The shell works."}


async def test_error_event_after_tool_is_continued_too(serve, tmp_path: Path) -> None:
    count = tmp_path / "count"
    srv = serve(scenario(
        {"blocks": [{"type": "text", "text": "Counting.", "chunk_size": 4},
                    {"type": "tool_use", "id": "toolu_c", "name": "bash",
                     "input": {"command": f"echo ran >> {count}; echo counted"}, "chunk_size": 6, "pause_after_s": 0.3},
                    {"type": "text", "text": "More text that never arrives.", "chunk_size": 4}],
         "stop_reason": "tool_use",
         "inject": [{"kind": "error", "at": "in_block:2", "error_type": "overloaded_error", "times": 3}]},
        {"expect": {"last_user_has_tool_result_for": ["toolu_c"], "tool_result_contains": {"toolu_c": "counted"}},
         **text_turn("Counted once.")}))
    rec = Recorder()
    messages = await run_loop([user("count")], rec)
    assert srv.violations == [] and [r.outcome for r in srv.requests] == ["error", "served"]
    assert runs(count) == ["ran"]
    assert shape(messages) == [("user", ["text"]), ("assistant", ["text", "tool_use"]), ("user", ["tool_result"]),
                               ("assistant", ["text"])]
    assert [e for _, _, e in rec.responses] == [None, None]


# --------------------------------------------------------------------------- (b) drops on every request


@pytest.mark.parametrize("max_retries", [0, 2, 3])
async def test_drop_every_time_is_bounded_by_the_retry_budget(serve, tmp_path: Path, max_retries: int) -> None:
    srv = serve(load_scenario("drop_after_tool_every_time", variables={"WORKDIR": str(tmp_path)}))
    rec = Recorder()
    policy = RetryPolicy(max_retries=max_retries, base_delay_s=0.02, max_delay_s=0.1, jitter=0.0)
    messages = await run_loop([user("keep recording")], rec, retry_policy=policy)
    assert srv.violations == [], [v.message for v in srv.violations]
    n = max_retries + 1
    assert [r.outcome for r in srv.requests] == ["drop"] * n  # 1 request + one continuation per retry
    ids = [f"toolu_01DropEveryTime00000000{i}" for i in range(n)]
    assert runs(tmp_path / "runs.txt") == ids  # each distinct tool_use ran exactly once, in order
    # the function returned with the last cut-down message and its result appended, as before this change
    assert shape(messages) == [("user", ["text"])] + [("assistant", ["text", "tool_use"]), ("user", ["tool_result"])] * n
    assert [b["tool_use_id"] for m in messages[2::2] for b in tool_results(m)] == ids
    # api_response_callback: None for each opened request, then the final failure (the upstream callback)
    errors = [e for _, _, e in rec.responses]
    assert errors[:-1] == [None] * n and type(errors[-1]).__name__ == "RemoteProtocolError"
    assert [r.attempt for r in rec.of("retry")] == list(range(1, n))
    assert [(e.outcome, e.iterations) for e in rec.of("done")] == [("error", n)]
    await follow_up_is_valid(serve, messages)


@pytest.mark.parametrize(("max_retries", "outcomes"), [(1, ["drop", "drop"]), (2, ["drop", "drop", "served"])])
async def test_retries_and_continuations_share_one_budget(serve, tmp_path: Path, max_retries: int,
                                                          outcomes: list[str]) -> None:
    """Attempt 1 drops in the text (a retry: nothing ran), attempt 2 after the tool (a continuation)."""
    count = tmp_path / "count"
    srv = serve(scenario(
        {"blocks": [{"type": "text", "text": "Before the tool.", "chunk_size": 4},
                    {"type": "tool_use", "id": "toolu_m", "name": "bash",
                     "input": {"command": f"echo ran >> {count}; echo m"}, "chunk_size": 6}],
         "stop_reason": "tool_use",
         "inject": [{"kind": "drop", "at": "in_block:0", "times": 1}, {"kind": "drop", "at": "after_block:1", "times": 2}]},
        {"expect": {"last_user_has_tool_result_for": ["toolu_m"]}, **text_turn("Finished.")}))
    rec = Recorder()
    policy = RetryPolicy(max_retries=max_retries, base_delay_s=0.02, max_delay_s=0.1, jitter=0.0)
    messages = await run_loop([user("go")], rec, retry_policy=policy)
    assert srv.violations == [] and [r.outcome for r in srv.requests] == outcomes
    assert runs(count) == ["ran"]
    assert [r.discard_partial for r in rec.of("retry")] == [True, False][: max_retries]
    finished = max_retries == 2
    assert rec.events[-1].outcome == ("completed" if finished else "error")
    assert (rec.responses[-1][2] is None) is finished
    assert shape(messages)[-1] == (("assistant", ["text"]) if finished else ("user", ["tool_result"]))


async def test_non_retryable_error_after_tool_returns_without_continuing(serve, tmp_path: Path) -> None:
    count = tmp_path / "count"
    srv = serve(scenario(
        {"blocks": [{"type": "tool_use", "id": "toolu_n", "name": "bash",
                     "input": {"command": f"echo ran >> {count}"}, "chunk_size": 6},
                    {"type": "text", "text": "never", "chunk_size": 4}],
         "stop_reason": "tool_use",
         "inject": [{"kind": "error", "at": "in_block:1", "error_type": "invalid_request_error", "times": 5}]},
        text_turn("not reached")))
    rec = Recorder()
    messages = await run_loop([user("go")], rec, retry_policy=BUDGET_2)
    assert len(srv.requests) == 1 and rec.of("retry") == [] and runs(count) == ["ran"]
    assert shape(messages) == [("user", ["text"]), ("assistant", ["tool_use"]), ("user", ["tool_result"])]
    assert rec.responses[-1][2] is not None and rec.events[-1].outcome == "error"
    await follow_up_is_valid(serve, messages)
