"""Typed events that the unified streaming loop hands to its optional ``stream_callback``.

Every event is a small frozen dataclass with a ``kind`` (a stable string, handy for JSON logs and UIs
that prefer ``match event.kind``) and ``t``, the ``time.monotonic()`` moment the loop created it.
Deltas carry ``iteration`` (0 for the first API call of a ``sampling_loop`` call, 1 for the next...)
and ``index`` (the content block index inside that message), so a UI can tell blocks apart.

The set is open: a consumer must ignore kinds it does not know.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

log = logging.getLogger(__name__)


def _now() -> float:
    return time.monotonic()


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """Base of every stream event."""

    kind: ClassVar[str] = "event"
    t: float = field(default_factory=_now, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: ``kind`` plus every field; tool results are summarised."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            out[f.name] = _jsonable(getattr(self, f.name))
        return out


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    # ToolResult (ours or the host's): keep the text fields, say only whether an image was there.
    if hasattr(value, "output") and hasattr(value, "error"):
        return {
            "output": getattr(value, "output", None),
            "error": getattr(value, "error", None),
            "system": getattr(value, "system", None),
            "has_image": bool(getattr(value, "base64_image", None)),
        }
    return repr(value)


@dataclass(frozen=True, slots=True)
class RequestStarted(StreamEvent):
    """An API request is about to be sent (``attempt`` > 0 for a retry of the same iteration)."""

    kind: ClassVar[str] = "request_started"
    iteration: int
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class TextDelta(StreamEvent):
    kind: ClassVar[str] = "text_delta"
    iteration: int
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta(StreamEvent):
    kind: ClassVar[str] = "thinking_delta"
    iteration: int
    index: int
    thinking: str


@dataclass(frozen=True, slots=True)
class ToolInputProgress(StreamEvent):
    """A fragment of a tool's input JSON arrived; ``chars`` is the total received so far."""

    kind: ClassVar[str] = "tool_input_progress"
    iteration: int
    index: int
    tool_use_id: str
    name: str
    partial_json: str
    chars: int


@dataclass(frozen=True, slots=True)
class ToolStarted(StreamEvent):
    """A tool began executing. ``mid_stream`` is true when the model was still streaming then."""

    kind: ClassVar[str] = "tool_started"
    iteration: int
    index: int
    tool_use_id: str
    name: str
    input: dict[str, Any]
    mid_stream: bool


@dataclass(frozen=True, slots=True)
class ToolOutputChunk(StreamEvent):
    """Live output of a running tool: ``stream`` is "stdout", "stderr" or "progress".

    For "progress" (the file tool), ``done``/``total`` carry the counters and ``text`` is empty.
    """

    kind: ClassVar[str] = "tool_output_chunk"
    tool_use_id: str
    name: str
    text: str
    stream: str = "stdout"
    done: int | None = None
    total: int | None = None


@dataclass(frozen=True, slots=True)
class ToolFinished(StreamEvent):
    """A tool ended; ``status`` is "ok", "error", "interrupted" or "not_run"."""

    kind: ClassVar[str] = "tool_finished"
    tool_use_id: str
    name: str
    is_error: bool
    duration_s: float
    status: str
    result: Any = None


@dataclass(frozen=True, slots=True)
class Retry(StreamEvent):
    """The stream failed and a request is sent again after ``delay_s``.

    ``discard_partial`` True (no tool had started): the same request is retried, so a UI throws away the
    text and thinking it showed for this iteration; the message streams again from the start. False (a
    tool had started): the complete blocks and their results were kept and the turn continues with a new
    request (the next iteration); what the UI showed stays.
    """

    kind: ClassVar[str] = "retry"
    iteration: int
    attempt: int
    delay_s: float
    error: str
    error_type: str
    discard_partial: bool = True


@dataclass(frozen=True, slots=True)
class Usage(StreamEvent):
    """Token usage of one finished (or abandoned) API message, sent when its stream ends."""

    kind: ClassVar[str] = "usage"
    iteration: int
    stop_reason: str | None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    thinking_tokens: int | None = None
    message_complete: bool = True


@dataclass(frozen=True, slots=True)
class Metrics(StreamEvent):
    """Per-turn metrics computed by ``StreamingSession`` (see streaming_enhancements)."""

    kind: ClassVar[str] = "metrics"
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Done(StreamEvent):
    """``sampling_loop`` is returning (or re-raising a cancellation).

    ``stop_reason`` is the last message's; ``outcome`` is "completed", "truncated", "refused",
    "error" or "cancelled".
    """

    kind: ClassVar[str] = "done"
    stop_reason: str | None
    outcome: str = "completed"
    iterations: int = 0
    error: str | None = None


def safe_emitter(callback: Callable[[StreamEvent], Any] | None) -> Callable[[StreamEvent], None] | None:
    """Wrap a UI callback so that its errors are logged, never raised into the loop (None stays None)."""
    if callback is None:
        return None

    def emit(event: StreamEvent) -> None:
        try:
            callback(event)
        except Exception:
            log.exception("stream_callback failed on %s", event.kind)
    return emit


EVENT_TYPES: tuple[type[StreamEvent], ...] = (
    RequestStarted, TextDelta, ThinkingDelta, ToolInputProgress, ToolStarted, ToolOutputChunk,
    ToolFinished, Retry, Usage, Metrics, Done,
)

__all__ = [
    "EVENT_TYPES", "Done", "Metrics", "RequestStarted", "Retry", "StreamEvent", "TextDelta", "ThinkingDelta",
    "ToolFinished", "ToolInputProgress", "ToolOutputChunk", "ToolStarted", "Usage", "safe_emitter",
]
