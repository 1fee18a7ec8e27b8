"""Issue 12.4/12.5: what a tool or the model sends cannot take over the operator's terminal, and the
terminal chat's view of tool output stays bounded in size, time and memory.

The end-to-end test runs a real ``python -m dc_impl.chat`` process (through a small wrapper that
reports its peak RSS) against the scripted Messages API server; the model asks the real bash tool to
print escape sequences and rich markup, ``seq 1 3000000`` (about 21 MB) and one 8 MB line. The
chat's stdout goes to a file (not a terminal, ``NO_COLOR``): rich then writes no styling, so any ESC
byte in it came from the tool or the model.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from dc_impl.chat import LiveView, main, metrics_table
from dc_impl.stream.events import TextDelta, ThinkingDelta, ToolFinished, ToolOutputChunk, ToolStarted
from dc_impl.streaming_enhancements import TurnMetrics
from dc_verify.scripted_server import ScriptedServer

REPO = Path(__file__).resolve().parents[2]
ESC_CMD = "printf '\\033[2J\\033[H\\033]0;pwned\\007'; echo '[bold red]markup[/] [link=http://example.invalid]x[/link]'"
RAW_ESC_CMD = "echo '\x1b[31mraw-esc-in-command'"  # a real ESC byte in the tool input (the panel title)
SEQ_N = 3_000_000
LINE_CHARS = 8_000_000
MODEL_TEXT = "Model says \x1b]0;model-pwned\x07 and \u009b2J and \u202egnp.exe\u202c done."
SEQ_TOTAL_CHARS = sum(len(str(i)) + 1 for i in range(1, SEQ_N + 1))

SCENARIO: dict[str, Any] = {
    "name": "untrusted", "description": "escape sequences, markup, seq 1 3000000, one 8 MB line",
    "turns": [
        {"blocks": [{"type": "thinking", "thinking": "Think \x1b[2J hard.", "signature": "EqQBsigUntrusted=="},
                    {"type": "text", "text": MODEL_TEXT, "chunk_size": 7},
                    {"type": "tool_use", "id": "toolu_esc", "name": "bash", "input": {"command": ESC_CMD}},
                    {"type": "tool_use", "id": "toolu_raw", "name": "bash", "input": {"command": RAW_ESC_CMD}}],
         "stop_reason": "tool_use"},
        {"expect": {"last_user_has_tool_result_for": ["toolu_esc", "toolu_raw"]},
         "blocks": [{"type": "tool_use", "id": "toolu_seq", "name": "bash", "input": {"command": f"seq 1 {SEQ_N}"}}],
         "stop_reason": "tool_use"},
        {"expect": {"last_user_has_tool_result_for": ["toolu_seq"]},
         "blocks": [{"type": "tool_use", "id": "toolu_line", "name": "bash",
                     "input": {"command": f"head -c {LINE_CHARS} /dev/zero | tr '\\0' y; echo"}}],
         "stop_reason": "tool_use"},
        {"expect": {"last_user_has_tool_result_for": ["toolu_line"]},
         "blocks": [{"type": "text", "text": "All printed."}], "stop_reason": "end_turn"},
    ]}

WRAPPER = """
import resource, sys
import anthropic, rich.live, rich.panel, rich.table  # imported before the baseline: growth is the turn's
from dc_impl.chat import main
from dc_impl import unified_streaming_loop
start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
code = main(sys.argv[2:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open(sys.argv[1], "w") as fh:
    fh.write(f"{start} {peak}")
sys.exit(code)
"""

OMITTED = re.compile(r"\[… ([\d,]+) lines? \(([\d,]+) characters\) omitted …\]")
OMITTED_IN_LINE = re.compile(r"\[… ([\d,]+) characters of one line omitted …\]")


def _panel_lines(out: str, title_part: str) -> list[str]:
    """The body lines of the first panel whose title contains ``title_part``, borders stripped."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if title_part in line and line.lstrip().startswith("╭"))
    body = []
    for line in lines[start + 1:]:
        if line.lstrip().startswith("╰"):
            break
        body.append(line.strip().strip("│").strip())
    return body


def test_chat_output_is_neutralised_and_bounded_end_to_end(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env.update(PYTHONPATH=str(REPO), COLUMNS="120", NO_COLOR="1", TERM="dumb")
    out_path, rss_path = tmp_path / "chat.out", tmp_path / "rss"
    with ScriptedServer(SCENARIO) as srv, out_path.open("wb") as out:
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-c", WRAPPER, str(rss_path), "--base-url", srv.base_url, "--prompt", "print things",
             "--thinking-budget", "2048"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.PIPE, timeout=300)
        elapsed = time.monotonic() - t0
    raw = out_path.read_bytes()
    text = raw.decode("utf-8")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:] + text[-2000:]
    assert srv.violations == [] and len(srv.requests) == 4

    # 12.4: nothing from the tool or the model reaches the terminal as a control sequence ...
    assert b"\x1b" not in raw and b"\x07" not in raw
    for ch in ("\u009b", "\u202e", "\u202c"):
        assert ch not in text, repr(ch)
    # ... it is shown visibly instead, and never read as rich markup
    assert "␛[2J␛[H␛]0;pwned␇" in text
    assert "[bold red]markup[/] [link=http://example.invalid]x[/link]" in text
    assert "␛[31mraw-esc-in-command" in text  # the command in the panel title, and its output
    assert "Model says ␛]0;model-pwned␇ and <U+009B>2J and <U+202E>gnp.exe<U+202C> done." in text
    assert "Think ␛[2J hard." in text

    # 12.5: bounded output, head + tail + what was left out, in lines and characters
    assert len(raw) < 200_000, len(raw)
    seq_body = _panel_lines(text, f"bash: seq 1 {SEQ_N}")
    notes = [OMITTED.search(line) for line in seq_body]
    note = next(m for m in notes if m)
    numbers = [line for line in seq_body if line.isdigit()]
    assert numbers[:3] == ["1", "2", "3"] and numbers[-1] == str(SEQ_N)
    omitted_lines, omitted_chars = (int(g.replace(",", "")) for g in note.groups())
    assert omitted_lines + len(numbers) == SEQ_N
    assert omitted_chars + sum(len(n) + 1 for n in numbers) == SEQ_TOTAL_CHARS
    line_body = "".join(_panel_lines(text, "bash: head -c"))
    in_line = OMITTED_IN_LINE.search(line_body)
    assert in_line is not None, line_body[:500]
    shown_y = line_body.count("y")
    assert int(in_line.group(1).replace(",", "")) + shown_y == LINE_CHARS
    assert 0 < shown_y < 20_000

    # in time and memory
    assert elapsed < 20, elapsed
    start_kb, peak_kb = (int(v) for v in rss_path.read_text().split())
    print(f"chat: {elapsed:.1f} s, {len(raw)} bytes, rss {start_kb} -> {peak_kb} kB")
    assert peak_kb - start_kb < 100 * 1024, (start_kb, peak_kb)  # was ~300 MB before


def test_live_view_renders_tool_and_model_text_as_plain_safe_text() -> None:
    view = LiveView()
    view.update(ThinkingDelta(iteration=0, index=0, thinking="t\x1b[2J"))
    view.update(TextDelta(iteration=0, index=1, text="[bold]not bold[/bold] \x1b]8;;http://x\x07link"))
    view.update(ToolStarted(iteration=0, index=2, tool_use_id="t", name="bash[/]",
                            input={"command": "echo [red]x[/red]\nrm -rf \u202e"}, mid_stream=False))
    view.update(ToolOutputChunk(tool_use_id="t", name="bash", text="a\x1b[2J\x9b31m\r\nb\rc\x00\x7f [link=x]y[/link]\n"))
    view.update(ToolFinished(tool_use_id="t", name="bash", is_error=False, duration_s=0.1, status="ok"))
    buf = io.StringIO()
    Console(file=buf, width=100, color_system=None).print(view.render())
    out = buf.getvalue()
    assert "\x1b" not in out and "\x9b" not in out and "\x00" not in out and "\u202e" not in out
    assert "a␛[2J<U+009B>31m" in out and "b␍c␀␡ [link=x]y[/link]" in out
    assert "[bold]not bold[/bold] ␛]8;;http://x␇link" in out and "t␛[2J" in out
    assert "bash[/]: echo [red]x[/red]⏎rm -rf <U+202E>" in out


def test_tool_output_held_by_the_view_is_bounded() -> None:
    view = LiveView()
    view.update(ToolStarted(iteration=0, index=0, tool_use_id="t", name="bash", input={"command": "yes"},
                            mid_stream=False))
    chunk = "y\n" * 50_000
    for _ in range(100):  # 10 MB streamed
        view.update(ToolOutputChunk(tool_use_id="t", name="bash", text=chunk))
    tool = view.tools["t"]
    assert len(tool.buf.head) + len(tool.buf.tail) <= tool.buf.head_chars + tool.buf.tail_chars < 50_000
    assert tool.buf.total_chars == 10_000_000 and tool.buf.total_newlines == 5_000_000
    buf = io.StringIO()
    Console(file=buf, width=100, color_system=None).print(view.render())
    assert "lines (" in buf.getvalue() and len(buf.getvalue()) < 20_000


def test_messages_from_the_server_are_not_rich_markup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    m = TurnMetrics()
    m.outcome, m.stop_reason = "completed", "[/]end_turn\x1b[2J"
    buf = io.StringIO()
    Console(file=buf, width=120, color_system=None).print(metrics_table(m))  # raised MarkupError before
    assert "completed ([/]end_turn␛[2J)" in buf.getvalue()
    buf = io.StringIO()
    assert main(["--base-url", "http://127.0.0.1:9", "--prompt", "x", "--tool-version", "[/x]"],
                console=Console(file=buf, width=200, color_system=None)) == 2
    assert "unknown --tool-version '[/x]'" in buf.getvalue()
