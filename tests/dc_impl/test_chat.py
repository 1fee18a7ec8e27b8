"""The terminal chat: a real ``python -m dc_impl.chat`` process against the scripted server, and the
live view's handling of events."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from dc_impl.chat import LiveView, main
from dc_impl.stream.events import Retry, TextDelta, ThinkingDelta, ToolFinished, ToolOutputChunk, ToolStarted
from dc_verify.scripted_server import ScriptedServer, load_scenario

REPO = Path(__file__).resolve().parents[2]

CHAT_SCENARIO = {
    "name": "chat", "description": "thinking, text, a bash call, final text",
    "turns": [
        {"blocks": [{"type": "thinking", "thinking": "Plan: print a marker.", "signature": "EqQBsigChat==",
                     "chunk_size": 5},
                    {"type": "text", "text": "Printing the marker.", "chunk_size": 5},
                    {"type": "tool_use", "id": "toolu_chat", "name": "bash",
                     "input": {"command": "echo chat-marker-$((40+2))"}}],
         "stop_reason": "tool_use"},
        {"expect": {"last_user_has_tool_result_for": ["toolu_chat"]},
         "blocks": [{"type": "thinking", "thinking": "It printed.", "signature": "EqQBsigChat2=="},
                    {"type": "text", "text": "The marker was printed.", "chunk_size": 6}],
         "stop_reason": "end_turn"},
    ]}


def test_chat_process_renders_a_turn_against_the_scripted_server() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env["PYTHONPATH"] = str(REPO)
    env["COLUMNS"] = "120"
    with ScriptedServer(CHAT_SCENARIO) as srv:
        proc = subprocess.run(
            [sys.executable, "-m", "dc_impl.chat", "--base-url", srv.base_url, "--prompt", "print the marker",
             "--tool-version", "computer_use_20250429", "--thinking-budget", "2048"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for expected in ("Plan: print a marker.", "Printing the marker.", "chat-marker-42", "The marker was printed.",
                     "turn metrics", "time saved by mid-stream start", "completed (end_turn)"):
        assert expected in out, expected
    assert srv.violations == [] and len(srv.requests) == 2
    assert srv.requests[0].body["stream"] is True


def test_retry_replaces_the_partial_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)  # main() sets it; restored after the test
    buf = io.StringIO()
    with ScriptedServer(load_scenario("overloaded_midstream")) as srv:
        code = main(["--base-url", srv.base_url, "--prompt", "logs?"], console=Console(file=buf, width=120),
                    tools=[])
    out = buf.getvalue()
    assert code == 0 and srv.violations == []
    assert out.count("Let me look at the logs and summarise them for you.") == 1
    assert "stream failed (overloaded_error); retrying" in out and "requests / retries" in out


def test_usage_errors_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    buf = io.StringIO()
    assert main(["--prompt", "hi"], console=Console(file=buf, width=200)) == 2
    assert "no API key" in buf.getvalue()
    buf = io.StringIO()
    assert main(["--base-url", "http://127.0.0.1:9"], console=Console(file=buf, width=200)) == 2
    assert "pass --prompt TEXT or --interactive" in buf.getvalue()
    buf = io.StringIO()
    assert main(["--base-url", "http://127.0.0.1:9", "--prompt", "x", "--thinking-budget", "10"],
                console=Console(file=buf, width=200)) == 2
    assert "at least 1024" in buf.getvalue()
    buf = io.StringIO()
    assert main(["--base-url", "http://127.0.0.1:9", "--prompt", "x", "--tool-version", "bogus"],
                console=Console(file=buf, width=200)) == 2
    assert "unknown --tool-version 'bogus'" in buf.getvalue() and "computer_use_20250124" in buf.getvalue()


def test_live_view_tracks_blocks_tools_and_retries() -> None:
    view = LiveView()
    view.update(ThinkingDelta(iteration=0, index=0, thinking="hmm"))
    view.update(TextDelta(iteration=0, index=1, text="partial"))
    view.update(Retry(iteration=0, attempt=1, delay_s=0.5, error="x", error_type="overloaded_error"))
    view.update(ThinkingDelta(iteration=0, index=0, thinking="hmm again"))
    view.update(TextDelta(iteration=0, index=1, text="Full "))
    view.update(TextDelta(iteration=0, index=1, text="answer."))
    view.update(ToolStarted(iteration=0, index=2, tool_use_id="t", name="bash", input={"command": "ls"},
                            mid_stream=True))
    view.update(ToolOutputChunk(tool_use_id="t", name="bash", text="a.txt\n"))
    view.update(ToolFinished(tool_use_id="t", name="bash", is_error=False, duration_s=0.1, status="ok"))
    view.update(TextDelta(iteration=1, index=0, text="Next."))
    assert view.text_of("text") == "Full answer.Next."
    assert view.text_of("thinking") == "hmm again"
    assert [s.kind for s in view.segments] == ["notice", "thinking", "text", "tool", "text"]
    assert view.tools["t"].output == "a.txt\n" and view.tools["t"].status == "ok"
    buf = io.StringIO()
    Console(file=buf, width=80).print(view.render())
    assert "bash: ls" in buf.getvalue() and "a.txt" in buf.getvalue()


def test_live_view_keeps_the_text_of_a_continued_drop() -> None:
    """A drop after a tool started is continued (discard_partial=False): what streamed stays on screen."""
    view = LiveView()
    view.update(TextDelta(iteration=0, index=0, text="Running it. "))
    view.update(Retry(iteration=0, attempt=1, delay_s=0.5, error="x", error_type="connection_error",
                      discard_partial=False))
    view.update(TextDelta(iteration=1, index=0, text="Done."))
    assert view.text_of("text") == "Running it. Done."
    assert "continuing" in view.text_of("notice")
