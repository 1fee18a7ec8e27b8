"""The turn in progress as both front ends show it: one pure reducer over the loop's stream events.

The terminal chat (``terminal.py``) and the Streamlit page (``streamlit/``) fold the same events
(``stream/events.py``) into the same ``LiveTurn``: an ordered list of ``Segment`` objects (text,
thinking, tool call, notice) plus usage and metrics; each only draws it. The Streamlit page may also
feed whole blocks (upstream's ``output_callback`` and ``tool_output_callback``, when the original loop
runs) through ``apply_block`` and ``apply_tool_result``. Nothing here draws, so the reducer is tested
without a terminal or a browser. ``LiveTurn.version`` grows with every change, so a poller redraws
only when something happened.

Text from the model or a tool is stored already made safe (``text_safety.safe_text``: control
characters and bidi overrides shown visibly), and a tool's streamed output is kept as a bounded head
and tail per stream (``text_safety.HeadTail``, ``LiveTurn.output_head_chars`` + ``output_tail_chars``)
with a line counting what was left out, so a command printing megabytes costs a front end a bounded
amount of memory and redraw.

A ``Retry`` that discards the partial reply (the same request is sent again) removes the text and
thinking of its iteration; one that continues after a tool ran keeps them (docs/streaming-rules.md,
"What a front end shows"). Either leaves a notice segment.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from ..stream import events as ev
from .text_safety import HeadTail, safe_text

TEXT = "text"
THINKING = "thinking"
TOOL = "tool"
NOTICE = "notice"

# Tool segment states, in the order a streamed tool goes through them.
TOOL_INPUT = "input"  # its input JSON is still streaming
TOOL_RUNNING = "running"
TOOL_STATUSES_DONE = ("ok", "error", "interrupted", "not_run")

# What a front end keeps of one tool's output (per stream) unless it asks for less; the tool caps its
# result at 30,000 characters.
OUTPUT_HEAD_CHARS = 10_000
OUTPUT_TAIL_CHARS = 20_000


@dataclass
class Segment:
    """One thing on screen: a text or thinking block, a tool call with its output, or a notice."""

    kind: str
    key: tuple[Any, ...]
    text: str = ""
    closed: bool = False  # text/thinking: a later block or the end of its message was seen
    tool_use_id: str = ""
    name: str = ""
    input: dict[str, Any] | None = None
    input_chars: int = 0
    status: str = ""
    output: str = ""  # what is shown: safe, head + omitted-count line + tail
    stderr: str = ""
    output_chars: int = 0  # everything received, shown or not
    stderr_chars: int = 0
    progress: tuple[int, int] | None = None  # done/total counters of the last progress report that had them
    activity: ev.ToolProgress | None = None  # the last progress report (phase, elapsed, detail)
    is_error: bool = False
    duration_s: float | None = None
    mid_stream: bool = False
    result: Any = None  # the ToolResult, once the tool finished
    event: ev.StreamEvent | None = None  # a notice: the event it stands for (e.g. the Retry)
    out_buf: HeadTail | None = field(default=None, repr=False, compare=False)
    err_buf: HeadTail | None = field(default=None, repr=False, compare=False)

    def add_output(self, text: str, stream: str, caps: tuple[int, int] = (OUTPUT_HEAD_CHARS, OUTPUT_TAIL_CHARS)) -> None:
        """Append streamed output to the bounded buffer of ``stream`` and refresh what is shown."""
        is_err = stream == "stderr"
        buf = self.err_buf if is_err else self.out_buf
        if buf is None:
            buf = HeadTail(*caps)
            if is_err:
                self.err_buf = buf
            else:
                self.out_buf = buf
        buf.add(text)
        if stream == "stderr":
            self.stderr, self.stderr_chars = buf.clip().text, buf.total_chars
        else:
            self.output, self.output_chars = buf.clip().text, buf.total_chars


@dataclass
class LiveTurn:
    """Render state of one turn; ``lock`` guards it between the loop thread and the page."""

    segments: list[Segment] = field(default_factory=list)
    usage: list[ev.Usage] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    first_request_t: float | None = None
    first_delta_t: float | None = None
    last_event_t: float | None = None
    retries: int = 0
    done: ev.Done | None = None
    error: str | None = None
    version: int = 0
    output_head_chars: int = OUTPUT_HEAD_CHARS
    output_tail_chars: int = OUTPUT_TAIL_CHARS
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def snapshot(self) -> LiveTurn:
        """A copy the page can render without holding the lock."""
        with self.lock:
            return LiveTurn(
                segments=[replace(s) for s in self.segments],
                usage=list(self.usage),
                metrics=dict(self.metrics),
                first_request_t=self.first_request_t,
                first_delta_t=self.first_delta_t,
                last_event_t=self.last_event_t,
                retries=self.retries,
                done=self.done,
                error=self.error,
                version=self.version,
                output_head_chars=self.output_head_chars,
                output_tail_chars=self.output_tail_chars,
            )

    def tool(self, tool_use_id: str) -> Segment | None:
        for seg in self.segments:
            if seg.kind == TOOL and seg.tool_use_id == tool_use_id:
                return seg
        return None


def _block_segment(turn: LiveTurn, kind: str, iteration: int, index: int) -> Segment:
    key = (iteration, index)
    for seg in reversed(turn.segments):
        if seg.key == key and seg.kind == kind:
            return seg
    # A new block starts: every earlier text/thinking block of this message is complete.
    for seg in turn.segments:
        if seg.kind in (TEXT, THINKING) and seg.key[:1] == (iteration,):
            seg.closed = True
    seg = Segment(kind=kind, key=key)
    turn.segments.append(seg)
    return seg


def _close_iteration(turn: LiveTurn, iteration: int | None) -> None:
    for seg in turn.segments:
        if seg.kind in (TEXT, THINKING) and (iteration is None or seg.key[:1] == (iteration,)):
            seg.closed = True


def _tool_segment(turn: LiveTurn, tool_use_id: str, name: str, key: tuple[Any, ...]) -> Segment:
    seg = turn.tool(tool_use_id)
    if seg is None:
        seg = Segment(kind=TOOL, key=key, tool_use_id=tool_use_id, name=name, status=TOOL_INPUT)
        turn.segments.append(seg)
    return seg


def retry_notice(event: ev.Retry) -> str:
    """What both front ends say about a failed stream (safe text)."""
    what = event.error_type or "error"
    if event.discard_partial:
        return safe_text(f"stream failed ({what}); retrying in {event.delay_s:.1f} s (attempt {event.attempt + 1}); "
                         "the partial reply was discarded")
    return safe_text(f"stream failed ({what}); continuing with what was kept in {event.delay_s:.1f} s "
                     f"(attempt {event.attempt + 1})")


def _seconds(ms: Any) -> str:
    return f"{float(ms) / 1000:.1f} s" if isinstance(ms, int | float) else "?"


def progress_text(event: ev.ToolProgress) -> str:
    """One line for a running tool's last progress report, e.g. "waiting for the screen to settle… 0.4 s"."""
    d = event.detail
    phase = event.phase
    if phase == "action_done":
        text = f"{d.get('action', 'action')} done, waiting for the screen… {_seconds(event.elapsed_ms)}"
    elif phase == "frames_compared":
        text = f"waiting for the screen to settle… {_seconds(event.elapsed_ms)} ({d.get('frames', '?')} frames compared)"
    elif phase == "settled":
        text = f"screen settled after {_seconds(d.get('waited_ms'))}"
    elif phase == "cap_reached":
        text = f"screen did not settle; capturing after {_seconds(d.get('waited_ms'))}"
    elif phase == "captured":
        text = f"screenshot captured ({d.get('width', '?')}x{d.get('height', '?')})… {_seconds(event.elapsed_ms)}"
    elif phase == "encoded":
        text = f"screenshot encoded ({d.get('bytes', '?')} bytes) at {_seconds(event.elapsed_ms)}"
    elif phase == "read" and event.done is not None and event.total is not None:
        text = f"read {event.done:,} of {event.total:,} bytes… {_seconds(event.elapsed_ms)}"
    else:
        text = f"{phase}… {_seconds(event.elapsed_ms)}"
    return safe_text(text)


def apply_event(turn: LiveTurn, event: Any) -> None:
    """Fold one stream event into ``turn``; kinds it does not know are ignored (the set is open)."""
    with turn.lock:
        if _apply(turn, event):
            turn.version += 1
            t = getattr(event, "t", None)
            if isinstance(t, float):
                turn.last_event_t = t


def _apply(turn: LiveTurn, event: Any) -> bool:  # noqa: C901 - one branch per event kind
    if isinstance(event, ev.RequestStarted):
        if turn.first_request_t is None:
            turn.first_request_t = event.t
        return True
    if isinstance(event, ev.TextDelta | ev.ThinkingDelta):
        if turn.first_delta_t is None:
            turn.first_delta_t = event.t
        if isinstance(event, ev.TextDelta):
            _block_segment(turn, TEXT, event.iteration, event.index).text += safe_text(event.text)
        else:
            _block_segment(turn, THINKING, event.iteration, event.index).text += safe_text(event.thinking)
        return True
    if isinstance(event, ev.ToolInputProgress):
        _close_iteration_before(turn, event.iteration, event.index)
        seg = _tool_segment(turn, event.tool_use_id, event.name, (event.iteration, event.index))
        seg.input_chars = event.chars
        return True
    if isinstance(event, ev.ToolStarted):
        _close_iteration_before(turn, event.iteration, event.index)
        seg = _tool_segment(turn, event.tool_use_id, event.name, (event.iteration, event.index))
        seg.input, seg.status, seg.mid_stream = dict(event.input), TOOL_RUNNING, event.mid_stream
        return True
    if isinstance(event, ev.ToolOutputChunk):
        seg = _tool_segment(turn, event.tool_use_id, event.name, ("tool", event.tool_use_id))
        seg.add_output(event.text, event.stream, (turn.output_head_chars, turn.output_tail_chars))
        if seg.status == TOOL_INPUT:
            seg.status = TOOL_RUNNING
        return True
    if isinstance(event, ev.ToolProgress):
        seg = _tool_segment(turn, event.tool_use_id, event.name, ("tool", event.tool_use_id))
        seg.activity = event
        if event.done is not None and event.total is not None:
            seg.progress = (event.done, event.total)
        if seg.status == TOOL_INPUT:
            seg.status = TOOL_RUNNING
        return True
    if isinstance(event, ev.BlockStopped):
        for seg in turn.segments:
            if seg.kind in (TEXT, THINKING) and seg.key == (event.iteration, event.index):
                seg.closed = True
                return True
        return False
    if isinstance(event, ev.ToolFinished):
        seg = _tool_segment(turn, event.tool_use_id, event.name, ("tool", event.tool_use_id))
        seg.status, seg.is_error = event.status, event.is_error
        seg.duration_s, seg.result = event.duration_s, event.result
        return True
    if isinstance(event, ev.Retry):
        turn.retries += 1
        if event.discard_partial:
            _discard_iteration(turn, event.iteration)
        turn.segments.append(Segment(kind=NOTICE, key=("retry", event.iteration, event.attempt),
                                     text=retry_notice(event), event=event))
        return True
    if isinstance(event, ev.Usage):
        turn.usage.append(event)
        _close_iteration(turn, event.iteration)
        return True
    if isinstance(event, ev.Metrics):
        turn.metrics.update(event.values)
        return True
    if isinstance(event, ev.Done):
        turn.done = event
        turn.error = event.error
        _close_iteration(turn, None)
        return True
    return False


def _close_iteration_before(turn: LiveTurn, iteration: int, index: int) -> None:
    for seg in turn.segments:
        if seg.kind in (TEXT, THINKING) and seg.key[0] == iteration and seg.key[1] < index:
            seg.closed = True


def _discard_iteration(turn: LiveTurn, iteration: int) -> None:
    """Drop the partial text, thinking and tool inputs of ``iteration`` (no tool ran before a retry)."""
    turn.segments = [
        s for s in turn.segments
        if not (s.kind in (TEXT, THINKING) or (s.kind == TOOL and s.status == TOOL_INPUT)) or s.key[:1] != (iteration,)
    ]


# --- whole blocks, from upstream's callbacks (block-level rendering) ---------------------------


def apply_block(turn: LiveTurn, block: Any) -> None:
    """A complete content block from ``output_callback`` (upstream shows blocks only when complete)."""
    block = _as_dict(block)
    kind = block.get("type")
    with turn.lock:
        key = ("block", len(turn.segments))
        if kind == "text":
            turn.segments.append(Segment(kind=TEXT, key=key, text=safe_text(str(block.get("text", ""))), closed=True))
        elif kind == "thinking":
            turn.segments.append(
                Segment(kind=THINKING, key=key, text=safe_text(str(block.get("thinking", ""))), closed=True))
        elif kind == "tool_use":
            seg = _tool_segment(turn, str(block.get("id", "")), str(block.get("name", "")), key)
            seg.input, seg.status = dict(block.get("input") or {}), TOOL_RUNNING
        else:
            turn.segments.append(Segment(kind=NOTICE, key=key, text=safe_text(f"[{kind}]"), closed=True))
        turn.version += 1


def apply_tool_result(turn: LiveTurn, result: Any, tool_use_id: str) -> None:
    """A finished tool's ``ToolResult`` from ``tool_output_callback``."""
    with turn.lock:
        seg = _tool_segment(turn, tool_use_id, "", ("tool", tool_use_id))
        error = getattr(result, "error", None)
        seg.result, seg.is_error = result, bool(error)
        seg.status = "error" if error else "ok"
        turn.version += 1


def _as_dict(block: Any) -> dict[str, Any]:
    if isinstance(block, dict):
        return block
    dump = getattr(block, "model_dump", None)
    return dump() if callable(dump) else {"type": getattr(block, "type", "unknown")}


def tool_input_text(seg: Segment) -> str:
    """The tool call as upstream shows it: name and input (safe text)."""
    if seg.input is None:
        return safe_text(f"Tool Use: {seg.name}\nInput: (streaming, {seg.input_chars} chars received)")
    return safe_text(f"Tool Use: {seg.name}\nInput: {json.dumps(seg.input, ensure_ascii=False)}")
