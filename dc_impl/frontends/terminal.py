"""Terminal chat on the unified streaming loop: text, thinking and tool output rendered live (rich).

    python -m dc_impl.chat --base-url http://127.0.0.1:PORT --prompt "list the files"
    python -m dc_impl.chat --interactive                 # REPL; needs ANTHROPIC_API_KEY (real API)
    python -m computer_use_demo.dc_impl.chat ...          # the same, from a deployed tree

Without ``--base-url`` (or ``$ANTHROPIC_BASE_URL``) it talks to the real API and needs an API key;
against a scripted server any key works. One turn per prompt; per-turn metrics are printed at the end.
In the REPL, Ctrl-C stops the running turn (the loop leaves a valid history) and the next prompt works.

The stream events are folded by the reducer the Streamlit page uses too (``reducer.LiveTurn``); this
module only draws it. Everything that came from a tool or the model is shown as text, never as
terminal control or rich markup: control characters, escape sequences and bidi overrides are
rendered visibly (``␛[2J``, ``<U+202E>``) by ``text_safety.safe_text``. A tool's output is kept as a
bounded head and tail (``text_safety.HeadTail``, ``HEAD_CHARS`` + ``TAIL_CHARS`` per stream): the
panel shows its first ``HEAD_LINES`` and last ``TAIL_LINES`` lines and one line counting what was
left out, so a command printing megabytes costs the view a few kilobytes of memory and screen. While
a tool runs, its last progress report is shown under its output ("waiting for the screen to
settle… 0.4 s").

``rich`` is needed here only: the loop itself never imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from ..stream.events import StreamEvent
from ..stream.runner import tool_versions
from ..stream.session import StreamingSession, TurnMetrics
from ..unified_streaming_loop import sampling_loop
from . import reducer as rd
from .text_safety import HeadTail, clip_text, one_line, safe_text

HEAD_LINES = 5  # first lines of a tool's output shown in its panel
TAIL_LINES = 12  # last lines shown
HEAD_CHARS = 1000  # what the view keeps of a tool's output (per stream), whatever it printed
TAIL_CHARS = 2000
TITLE_CHARS = 80
STYLES = {rd.TEXT: "", rd.THINKING: "dim italic", rd.NOTICE: "yellow"}


@dataclass
class ToolView:
    """A tool segment as the chat draws it: title, status, bounded output, last progress."""

    seg: rd.Segment

    @property
    def name(self) -> str:
        return self.seg.name

    @property
    def command(self) -> str:
        data = self.seg.input
        if data is None:
            return f"(input streaming, {self.seg.input_chars} chars)"
        summary = data.get("command") or data.get("path") or data.get("action") or data
        return str(summary)[: TITLE_CHARS * 4]

    @property
    def status(self) -> str:
        return self.seg.status

    @property
    def buf(self) -> HeadTail:
        """The stdout buffer (bounded head + tail)."""
        return self.seg.out_buf or HeadTail(HEAD_CHARS, TAIL_CHARS)

    @property
    def output(self) -> str:
        """What the panel shows: head, the omitted-count line, tail (safe text), stdout then stderr."""
        parts = [b.clip(HEAD_LINES, TAIL_LINES).text for b in (self.seg.out_buf, self.seg.err_buf) if b is not None]
        if not parts and self.seg.result is not None:  # nothing streamed: the result's text
            r = self.seg.result
            text = str(getattr(r, "output", None) or getattr(r, "error", None) or "")
            parts.append(clip_text(text, HEAD_CHARS, TAIL_CHARS, HEAD_LINES, TAIL_LINES).text)
        return "\n".join(p.rstrip("\n") for p in parts) + ("\n" if parts and parts[-1].endswith("\n") else "")

    @property
    def activity(self) -> str | None:
        """The last progress report while the tool runs (safe text), else None."""
        if self.seg.activity is None or self.seg.status not in (rd.TOOL_INPUT, rd.TOOL_RUNNING):
            return None
        return rd.progress_text(self.seg.activity)


@dataclass
class LiveView:
    """What the terminal shows for one turn: the shared ``LiveTurn``, drawn with rich."""

    turn: rd.LiveTurn = field(default_factory=lambda: rd.LiveTurn(output_head_chars=HEAD_CHARS,
                                                                  output_tail_chars=TAIL_CHARS))

    def update(self, event: StreamEvent) -> None:
        rd.apply_event(self.turn, event)

    @property
    def segments(self) -> list[rd.Segment]:
        return self.turn.segments

    @property
    def tools(self) -> dict[str, ToolView]:
        return {s.tool_use_id: ToolView(s) for s in self.turn.segments if s.kind == rd.TOOL}

    def text_of(self, kind: str) -> str:
        return "".join(s.text for s in self.turn.segments if s.kind == kind)

    def render(self) -> Any:
        from rich.console import Group
        from rich.panel import Panel
        from rich.text import Text

        parts: list[Any] = []
        for seg in self.turn.segments:
            if seg.kind != rd.TOOL:
                parts.append(Text(seg.text, style=STYLES.get(seg.kind, "")))
                continue
            tool = ToolView(seg)
            border = {rd.TOOL_RUNNING: "cyan", rd.TOOL_INPUT: "cyan", "ok": "green"}.get(tool.status, "red")
            title = Text(one_line(f"{tool.name}: {tool.command}", TITLE_CHARS))
            body = Text(tool.output.rstrip("\n"))
            activity = tool.activity
            if activity:
                body.append(("\n" if body.plain else "") + activity, style="dim")
            parts.append(Panel(body, title=title, subtitle=Text(one_line(tool.status, 20)), border_style=border))
        return Group(*parts)


def metrics_table(m: TurnMetrics) -> Any:
    from rich.table import Table
    from rich.text import Text

    def fmt(value: float | None, unit: str) -> str:
        return "-" if value is None else f"{value:.2f} {unit}"

    table = Table("metric", "value", title="turn metrics", title_justify="left")
    rows = [("outcome", f"{m.outcome} ({m.stop_reason})"), ("requests / retries", f"{m.requests} / {m.retries}"),
            ("time to first token", fmt(m.ttft_s, "s")), ("tokens/s", fmt(m.tokens_per_s, "tok/s")),
            ("text / thinking deltas", f"{m.text_deltas} / {m.thinking_deltas}"),
            ("tool calls", str(len(m.tools))), ("tool time", fmt(m.tool_latency_s, "s")),
            ("time saved by mid-stream start", fmt(m.time_saved_s, "s")), ("wall time", fmt(m.wall_s, "s"))]
    for name, value in rows:
        table.add_row(name, Text(safe_text(value)))  # stop_reason comes from the server: never markup
    return table


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dc_impl.chat", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--base-url", default=os.environ.get("ANTHROPIC_BASE_URL"),
                   help="Messages API base URL (a scripted server); default $ANTHROPIC_BASE_URL or the real API")
    p.add_argument("--api-key", default=os.environ.get("ANTHROPIC_API_KEY"),
                   help="API key; default $ANTHROPIC_API_KEY ('scripted' when --base-url is given)")
    p.add_argument("--prompt", help="run one turn with this prompt, then exit")
    p.add_argument("--interactive", action="store_true", help="REPL: one turn per line (Ctrl-D to quit)")
    p.add_argument("--model", default="claude-sonnet-4-6")
    p.add_argument("--provider", default="anthropic", choices=["anthropic", "bedrock", "vertex"])
    p.add_argument("--tool-version", default="computer_use_20250429")
    p.add_argument("--thinking-budget", type=int, default=None)
    p.add_argument("--max-tokens", type=int, default=4096)
    p.add_argument("--system-prompt-suffix", default="")
    p.add_argument("--max-updates-per-s", type=float, default=10.0, help="screen updates per second")
    p.add_argument("--event-log", default=None, help="append every stream event to this JSONL file")
    return p


async def run_turn(messages: list[dict[str, Any]], prompt: str, args: argparse.Namespace, console: Any,
                   *, tools: list[Any] | None = None) -> TurnMetrics | None:
    """One user turn, rendered live on ``console``; returns its metrics (None when it was cancelled)."""
    from rich.live import Live

    view = LiveView()
    messages.append({"role": "user", "content": [{"type": "text", "text": prompt}]})
    errors: list[str] = []

    def on_api(request: Any, response: Any, error: Exception | None) -> None:
        if error is not None:
            errors.append(f"{type(error).__name__}: {error}")

    with Live(view.render(), console=console, refresh_per_second=max(1.0, args.max_updates_per_s),
              transient=False, auto_refresh=False) as live:
        def sink(event: StreamEvent) -> None:
            view.update(event)
            live.update(view.render(), refresh=True)

        session = StreamingSession(sink, max_updates_per_s=args.max_updates_per_s, log_path=args.event_log)
        try:
            await sampling_loop(
                model=args.model, provider=args.provider, system_prompt_suffix=args.system_prompt_suffix,
                messages=messages, output_callback=lambda block: None, tool_output_callback=lambda r, i: None,
                api_response_callback=on_api, api_key=args.api_key, max_tokens=args.max_tokens,
                tool_version=args.tool_version, thinking_budget=args.thinking_budget, stream_callback=session,
                tools=tools)
        finally:
            session.close()
            live.update(view.render(), refresh=True)
    if not console.is_terminal:  # Live leaves its last line open when it only renders once at the end
        console.line()
    for err in errors:
        console.print(_styled("API error:", safe_text(err)))
    if session.last_metrics is not None:
        console.print(metrics_table(session.last_metrics))
    return session.last_metrics


def _styled(label: str, detail: str) -> Any:
    """``label`` in red, then ``detail`` as plain text (no markup is read from it)."""
    from rich.text import Text

    return Text.assemble((label, "red"), " ", detail)


def _read_line(loop: asyncio.AbstractEventLoop, prompt: str) -> asyncio.Future[str | None]:
    """``input()`` in a daemon thread (an executor thread would keep the process alive at exit)."""
    fut: asyncio.Future[str | None] = loop.create_future()

    def reader() -> None:
        try:
            line: str | None = input(prompt)
        except (EOFError, OSError):
            line = None
        def deliver() -> None:
            if not fut.done():
                fut.set_result(line)

        loop.call_soon_threadsafe(deliver)

    threading.Thread(target=reader, daemon=True, name="chat-input").start()
    return fut


async def _repl(args: argparse.Namespace, console: Any, tools: list[Any] | None) -> None:
    """Ctrl-C during a turn cancels that turn (history stays valid); at the prompt it quits."""
    messages: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    turn: asyncio.Task[Any] | None = None
    quit_requested = asyncio.Event()

    def on_sigint() -> None:
        if turn is not None and not turn.done():
            turn.cancel()
        else:
            quit_requested.set()

    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        while True:
            line_fut = _read_line(loop, "you> ")
            quit_wait: asyncio.Future[Any] = asyncio.ensure_future(quit_requested.wait())
            waiting: set[asyncio.Future[Any]] = {line_fut, quit_wait}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            quit_wait.cancel()
            line = line_fut.result() if line_fut.done() else None
            if line is None or line.strip() in ("exit", "quit"):
                return
            if not line.strip():
                continue
            turn = asyncio.create_task(run_turn(messages, line, args, console, tools=tools))
            try:
                await turn
            except asyncio.CancelledError:
                console.print("[yellow]turn stopped; the history was left valid[/]")
            turn = None
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def main(argv: list[str] | None = None, *, console: Any = None, tools: list[Any] | None = None) -> int:
    """CLI entry: the exit code (0 completed or truncated turn, 1 error, refusal or stop, 2 usage)."""
    args = _parser().parse_args(argv)
    from rich.console import Console

    console = console or Console()
    if args.base_url:
        os.environ["ANTHROPIC_BASE_URL"] = args.base_url
        args.api_key = args.api_key or "scripted"
    if args.provider == "anthropic" and not args.api_key:
        console.print("[red]no API key:[/] set ANTHROPIC_API_KEY, pass --api-key, or point --base-url at a "
                      "scripted server (python -m dc_verify.scripted_server --scenario demo)")
        return 2
    if not args.prompt and not args.interactive:
        console.print("[red]nothing to do:[/] pass --prompt TEXT or --interactive")
        return 2
    if tools is None and args.tool_version not in (known := tool_versions()):
        console.print(_styled("invalid settings:", f"unknown --tool-version {safe_text(repr(args.tool_version))} "
                                                   f"(known: {', '.join(known)})"))
        return 2
    try:
        if args.interactive:
            asyncio.run(_repl(args, console, tools))
            return 0
        metrics = asyncio.run(run_turn([], args.prompt, args, console, tools=tools))
    except KeyboardInterrupt:
        return 1
    except ValueError as exc:  # e.g. ThinkingConfigError: a usage problem, said plainly
        console.print(_styled("invalid settings:", safe_text(str(exc))))
        return 2
    return 0 if metrics is not None and metrics.outcome in ("completed", "truncated") else 1


if __name__ == "__main__":
    sys.exit(main())
