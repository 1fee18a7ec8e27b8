"""Metrics from the unified loop's stream events (read by their ``kind``, so this package stays
independent of the event classes).

Per request: time to first token (``request_started`` to the first text, thinking or tool-input
delta), duration (to its ``usage`` event, or to the ``retry`` that ended it), token usage. Per tool:
duration and outcome from ``tool_finished``. Mid-stream savings: for a tool started while the message
was still streaming, the part of its run that overlapped the stream (it would have waited for
``message_stop`` in upstream's loop). The recorder is flushed once per request and once per tool call.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import Any

from .recorder import Recorder, get_recorder

log = logging.getLogger("dc_impl.metrics")

# Set while the unified loop runs: tool calls are then recorded from its events, and our tools,
# which record their own calls under upstream's loop, skip recording (no call counted twice).
LOOP_RECORDS_TOOLS: contextvars.ContextVar[bool] = contextvars.ContextVar("dc_loop_records_tools", default=False)

_CONTENT = frozenset({"text_delta", "thinking_delta", "tool_input_progress"})


class LoopMetrics:
    def __init__(self, recorder: Recorder) -> None:
        self.rec = recorder
        self.request_t: float | None = None
        self.first_t: float | None = None
        self.stream_end_t: float | None = None
        self.midstream: dict[str, tuple[float, float | None]] = {}  # tool_use_id -> (start, finish)

    def __call__(self, event: Any) -> None:
        kind = getattr(event, "kind", "")
        t = float(getattr(event, "t", 0.0))
        if kind == "request_started":
            self.request_t, self.first_t, self.stream_end_t = t, None, None
            self.midstream.clear()
        elif kind in _CONTENT:
            if self.request_t is not None and self.first_t is None:
                self.first_t = t
        elif kind == "usage":
            self._end_request(t, event)
        elif kind == "retry":
            self.rec.retry()
            if self.request_t is not None:
                self.rec.request(duration_s=t - self.request_t, ttft_s=self._ttft(), flush=False)
            self.request_t = None
        elif kind == "tool_started":
            if getattr(event, "mid_stream", False) and self.stream_end_t is None:
                self.midstream[str(event.tool_use_id)] = (t, None)
        elif kind == "tool_finished":
            self._tool_finished(t, event)
        elif kind == "done":
            self.rec.flush()

    def _ttft(self) -> float | None:
        if self.request_t is None or self.first_t is None:
            return None
        return self.first_t - self.request_t

    def _end_request(self, t: float, event: Any) -> None:
        usage = {name: getattr(event, name, 0) for name in ("input_tokens", "output_tokens",
                                                              "cache_read_input_tokens",
                                                              "cache_creation_input_tokens")}
        self.stream_end_t = t
        saved = 0.0
        for start, finish in self.midstream.values():
            saved += max(0.0, min(t, finish if finish is not None else t) - start)
        self.midstream.clear()
        self.rec.midstream_saved(saved)
        duration = None if self.request_t is None else t - self.request_t
        self.rec.request(duration_s=duration, ttft_s=self._ttft(), usage=usage)
        self.request_t = None

    def _tool_finished(self, t: float, event: Any) -> None:
        tid = str(getattr(event, "tool_use_id", ""))
        if tid in self.midstream:
            self.midstream[tid] = (self.midstream[tid][0], t)
        status = str(getattr(event, "status", ""))
        outcome = "error" if status == "ok" and getattr(event, "is_error", False) else status  # the recorder
        # files any status outside its fixed set under "error"
        self.rec.tool_call(str(getattr(event, "name", "other")), outcome, float(getattr(event, "duration_s", 0.0)))


def with_metrics(emit: Callable[[Any], None] | None) -> Callable[[Any], None] | None:
    """``emit`` that also feeds the metrics (``emit`` unchanged when metrics are off)."""
    rec = get_recorder()
    if not rec.enabled:
        return emit
    sink = LoopMetrics(rec)
    failed: list[bool] = []

    def both(event: Any) -> None:
        try:
            sink(event)
        except Exception:  # metrics never break the loop
            if not failed:
                failed.append(True)
                log.exception("metrics: recording the %s event failed", getattr(event, "kind", "?"))
        if emit is not None:
            emit(event)

    return both
