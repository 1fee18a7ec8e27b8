"""A stalled stream (no byte for longer than the idle timeout) counts as a drop: retried before any
tool started, with the UI told to discard the partial text, and the history stays valid."""

from __future__ import annotations

import time

import pytest
from unified_loop_kit import Recorder, run_loop, scenario, text_turn, user

from dc_impl.stream import loop as usl
from dc_verify.scripted_server import ScriptedServer


async def test_a_stalled_stream_is_retried_after_the_idle_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    stalled = text_turn("all good here", inject=[{"kind": "stall", "at": "in_block:0", "seconds": 5, "times": 1}])
    with ScriptedServer(scenario(stalled, name="stall")) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        rec = Recorder()
        t0 = time.monotonic()
        messages = await run_loop([user("hi")], rec, stream_idle_timeout_s=0.5)
        elapsed = time.monotonic() - t0
        assert srv.violations == []
    assert elapsed < 4.0, "the loop waited for the stall instead of timing out"
    retries = rec.of("retry")
    assert len(retries) == 1 and retries[0].discard_partial
    assert messages[-1]["role"] == "assistant"
    assert messages[-1]["content"][0]["text"] == "all good here"


async def test_idle_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(usl.ENV_STREAM_IDLE_TIMEOUT, "0.5")
    stalled = text_turn("fine", inject=[{"kind": "stall", "at": "after_message_start", "seconds": 5, "times": 1}])
    with ScriptedServer(scenario(stalled, name="stall_env")) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        rec = Recorder()
        t0 = time.monotonic()
        messages = await run_loop([user("hi")], rec)
        assert time.monotonic() - t0 < 4.0 and srv.violations == []
    assert len(rec.of("retry")) == 1 and messages[-1]["content"][0]["text"] == "fine"


def test_idle_timeout_values() -> None:
    assert usl._idle_timeout(2.5) == 2.5
    with pytest.raises(ValueError, match="must be > 0"):
        usl._idle_timeout(0)


def test_bad_environment_value_falls_back_to_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(usl.ENV_STREAM_IDLE_TIMEOUT, "soon")
    assert usl._idle_timeout(None) == usl.DEFAULT_STREAM_IDLE_TIMEOUT_S
