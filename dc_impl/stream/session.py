"""Session helpers around the unified loop's ``stream_callback``: metrics, UI coalescing, event log.

    session = StreamingSession(sink=ui_update, max_updates_per_s=10, log_path="events.jsonl")
    await sampling_loop(..., stream_callback=session)
    session.last_metrics.as_dict()   # ttft, tokens/s, deltas, tool latency, time saved ...

- ``MetricsCollector`` folds events into ``TurnMetrics`` (one per ``sampling_loop`` call).
  *Time saved by mid-stream tool start* is, per tool, the part of its run that overlapped the model's
  stream: ``clip(message_stop - tool_start, 0, duration)``, summed; a loop that starts tools only after
  the message would have spent that time on top.
- ``Coalescer`` merges consecutive deltas of the same block (text, thinking, tool input, tool output)
  and hands them to the sink at most ``max_updates_per_s`` times a second. Nothing is lost: merged
  text is the concatenation, any other event first flushes what is pending and then passes through
  in order, and a timer flushes the tail when the stream goes quiet. Only ``ToolProgress`` events are
  collapsed to the newest of a tool, since each carries the current phase and totals.
- ``JsonlEventLog`` appends one JSON object per event (``StreamEvent.to_dict``) for monitoring.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .events import (
    Done,
    Metrics,
    RequestStarted,
    Retry,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolFinished,
    ToolInputProgress,
    ToolOutputChunk,
    ToolProgress,
    ToolStarted,
    Usage,
)

Sink = Callable[[StreamEvent], Any]

# ------------------------------------------------------------------------------------------------ metrics


@dataclass
class ToolMetric:
    tool_use_id: str
    name: str
    started_at: float
    iteration: int
    mid_stream: bool
    duration_s: float | None = None
    status: str | None = None
    overlap_s: float = 0.0  # time this tool ran while the model was still streaming


@dataclass
class TurnMetrics:
    started_at: float | None = None
    ended_at: float | None = None
    ttft_s: float | None = None
    requests: int = 0
    retries: int = 0
    text_deltas: int = 0
    thinking_deltas: int = 0
    tool_input_deltas: int = 0
    tool_output_chunks: int = 0
    tool_progress_reports: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    thinking_tokens: int = 0
    streaming_s: float = 0.0
    tools: list[ToolMetric] = field(default_factory=list)
    stop_reason: str | None = None
    outcome: str | None = None

    @property
    def tokens_per_s(self) -> float | None:
        return self.output_tokens / self.streaming_s if self.streaming_s > 0 else None

    @property
    def tool_latency_s(self) -> float:
        """Total time spent running tools."""
        return sum(t.duration_s or 0.0 for t in self.tools)

    @property
    def time_saved_s(self) -> float:
        return sum(t.overlap_s for t in self.tools)

    @property
    def wall_s(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "tools"}
        out["tools"] = [dataclasses.asdict(t) for t in self.tools]
        out.update(tokens_per_s=self.tokens_per_s, tool_latency_s=self.tool_latency_s,
                   time_saved_s=self.time_saved_s, wall_s=self.wall_s)
        return out


class MetricsCollector:
    """Pure fold of stream events into ``TurnMetrics`` (times come from the events' ``t``)."""

    def __init__(self) -> None:
        self.metrics = TurnMetrics()
        self._first_delta: dict[int, float] = {}
        self._message_stop: dict[int, float] = {}
        self._tools: dict[str, ToolMetric] = {}

    def feed(self, event: StreamEvent) -> None:
        m = self.metrics
        if m.started_at is None:
            m.started_at = event.t
        match event:
            case TextDelta() | ThinkingDelta():
                if isinstance(event, TextDelta):
                    m.text_deltas += 1
                else:
                    m.thinking_deltas += 1
                if m.ttft_s is None:
                    m.ttft_s = event.t - m.started_at
                self._first_delta.setdefault(event.iteration, event.t)
            case ToolInputProgress():
                m.tool_input_deltas += 1
            case ToolOutputChunk():
                m.tool_output_chunks += 1
            case ToolProgress():
                m.tool_progress_reports += 1
            case RequestStarted():
                m.requests += 1
            case Retry():
                m.retries += 1
                self._first_delta.pop(event.iteration, None)
            case Usage():
                self._on_usage(event)
            case ToolStarted():
                tm = ToolMetric(event.tool_use_id, event.name, event.t, event.iteration, event.mid_stream)
                self._tools[event.tool_use_id] = tm
                m.tools.append(tm)
            case ToolFinished():
                found = self._tools.get(event.tool_use_id)
                if found is not None:
                    found.duration_s, found.status = event.duration_s, event.status
                    self._overlap(found)
            case Done():
                m.ended_at, m.stop_reason, m.outcome = event.t, event.stop_reason, event.outcome

    def _on_usage(self, event: Usage) -> None:
        m = self.metrics
        m.input_tokens += event.input_tokens
        m.output_tokens += event.output_tokens
        m.thinking_tokens += event.thinking_tokens or 0
        first = self._first_delta.get(event.iteration)
        if first is not None:
            m.streaming_s += max(0.0, event.t - first)
        if event.message_complete:
            self._message_stop[event.iteration] = event.t
            for tm in self._tools.values():
                if tm.iteration == event.iteration:
                    self._overlap(tm)

    def _overlap(self, tm: ToolMetric) -> None:
        stop = self._message_stop.get(tm.iteration)
        if stop is None or tm.duration_s is None:
            return
        tm.overlap_s = min(max(0.0, stop - tm.started_at), tm.duration_s)


# ----------------------------------------------------------------------------------------------- coalescer


def _merge_key(event: StreamEvent) -> tuple[Any, ...] | None:
    match event:
        case TextDelta() | ThinkingDelta():
            return (type(event), event.iteration, event.index)
        case ToolInputProgress():
            return (ToolInputProgress, event.tool_use_id)
        case ToolOutputChunk():
            return (ToolOutputChunk, event.tool_use_id, event.stream)
        case ToolProgress():
            return (ToolProgress, event.tool_use_id)
    return None


def _merge(a: StreamEvent, b: StreamEvent) -> StreamEvent:
    if isinstance(a, TextDelta) and isinstance(b, TextDelta):
        return dataclasses.replace(a, text=a.text + b.text, t=b.t)
    if isinstance(a, ThinkingDelta) and isinstance(b, ThinkingDelta):
        return dataclasses.replace(a, thinking=a.thinking + b.thinking, t=b.t)
    if isinstance(a, ToolInputProgress) and isinstance(b, ToolInputProgress):
        return dataclasses.replace(a, partial_json=a.partial_json + b.partial_json, chars=b.chars, t=b.t)
    if isinstance(a, ToolOutputChunk) and isinstance(b, ToolOutputChunk):
        return dataclasses.replace(a, text=a.text + b.text, t=b.t)
    if isinstance(a, ToolProgress) and isinstance(b, ToolProgress):
        return b
    raise TypeError(f"cannot merge {type(a).__name__} and {type(b).__name__}")


class Coalescer:
    """Rate-limits delta events for a UI sink (at most ``max_updates_per_s`` delta flushes a second)."""

    def __init__(self, sink: Sink, max_updates_per_s: float = 10.0, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_updates_per_s <= 0:
            raise ValueError("max_updates_per_s must be positive")
        self.sink = sink
        self.interval = 1.0 / max_updates_per_s
        self._clock = clock
        self._pending: list[StreamEvent] = []
        self._last_flush = -float("inf")
        self._timer: asyncio.TimerHandle | None = None
        self.flushes = 0

    def __call__(self, event: StreamEvent) -> None:
        key = _merge_key(event)
        if key is None:  # ordering: what is pending goes first, then this event, unthrottled
            self.flush()
            self.sink(event)
            return
        last = self._pending[-1] if self._pending else None
        if last is not None and _merge_key(last) == key:
            self._pending[-1] = _merge(last, event)
        else:
            self._pending.append(event)
        wait = self._last_flush + self.interval - self._clock()
        if wait <= 0:
            self.flush()
        else:
            self._arm(wait)

    def _arm(self, delay: float) -> None:
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop: the next event or flush() delivers the tail
            return
        self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        self._last_flush = self._clock()
        self.flushes += 1
        for event in pending:
            self.sink(event)


# ------------------------------------------------------------------------------------------------ JSONL log


class JsonlEventLog:
    """Appends one JSON line per event to ``path`` (line-buffered; safe to tail while it grows)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh: TextIO | None = None

    def __call__(self, event: StreamEvent) -> None:
        if self._fh is None:
            self._fh = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in close()
        self._fh.write(json.dumps(event.to_dict(), ensure_ascii=False, default=repr) + "\n")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> JsonlEventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------------------------------------- session


class StreamingSession:
    """A ``stream_callback`` for one or more turns: metrics, optional coalescing and JSONL log.

    Each ``Done`` closes a turn: its ``TurnMetrics`` is appended to ``metrics`` and a ``Metrics`` event
    goes to the sink (and log) just before the ``Done`` itself.
    """

    def __init__(self, sink: Sink | None = None, *, max_updates_per_s: float | None = None,
                 log_path: str | Path | None = None) -> None:
        self._collector = MetricsCollector()
        self.metrics: list[TurnMetrics] = []
        self.log = JsonlEventLog(log_path) if log_path is not None else None
        self.coalescer = Coalescer(sink, max_updates_per_s) if sink is not None and max_updates_per_s else None
        self._sink = self.coalescer or sink

    @property
    def current(self) -> TurnMetrics:
        return self._collector.metrics

    @property
    def last_metrics(self) -> TurnMetrics | None:
        return self.metrics[-1] if self.metrics else None

    def __call__(self, event: StreamEvent) -> None:
        self._collector.feed(event)
        if isinstance(event, Done):
            turn = self._collector.metrics
            self.metrics.append(turn)
            self._collector = MetricsCollector()
            self._deliver(Metrics(values=turn.as_dict(), t=event.t))
        self._deliver(event)

    def _deliver(self, event: StreamEvent) -> None:
        if self.log is not None:
            self.log(event)
        if self._sink is not None:
            self._sink(event)

    def close(self) -> None:
        if self.coalescer is not None:
            self.coalescer.flush()
        if self.log is not None:
            self.log.close()


__all__ = ["Coalescer", "JsonlEventLog", "MetricsCollector", "StreamingSession", "ToolMetric", "TurnMetrics"]
