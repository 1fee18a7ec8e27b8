"""Public entry of the session helpers around the loop's ``stream_callback`` (``stream/session.py``).

    session = StreamingSession(sink=ui_update, max_updates_per_s=10, log_path="events.jsonl")
    await sampling_loop(..., stream_callback=session)
    session.last_metrics.as_dict()   # ttft, tokens/s, deltas, tool latency, time saved ...

``StreamingSession`` (metrics per turn, optional ``Coalescer`` for a UI sink, optional JSONL log),
``MetricsCollector`` / ``TurnMetrics``, ``Coalescer`` and ``JsonlEventLog`` are those of
``stream/session.py``; the events they handle are ``stream/events.py``'s.
"""

from __future__ import annotations

from .stream.session import (
    Coalescer,
    JsonlEventLog,
    MetricsCollector,
    StreamingSession,
    ToolMetric,
    TurnMetrics,
)

__all__ = ["Coalescer", "JsonlEventLog", "MetricsCollector", "StreamingSession", "ToolMetric", "TurnMetrics"]
