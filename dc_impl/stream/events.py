"""The one event vocabulary of a streamed turn, from the accumulator to the front ends.

The accumulator (``accumulator.apply_event``) produces the message events (``MessageStarted``,
``BlockStarted``, ``TextDelta``, ``ThinkingDelta``, ``ToolInputProgress``, ``BlockStopped``,
``MessageDelta``, ``MessageStopped``, ``StreamError``) while it folds the API's stream; the loop
(``loop.py``) acts on the same objects (a ``BlockStopped`` of a ``tool_use`` is the dispatch point)
and hands them, with its own events (requests, retries, tools, usage, end), to the optional
``stream_callback``. The front ends fold them with ``frontends.reducer``.

Every event is a small frozen dataclass with a ``kind`` (a stable string, handy for JSON logs and UIs
that prefer ``match event.kind``) and ``t``, the ``time.monotonic()`` moment it was created.
Message events carry ``iteration`` (0 for the first API call of a ``sampling_loop`` call, 1 for the
next...) and ``index`` (the content block index inside that message), so a UI can tell blocks apart.

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


# -------------------------------------------------------------------- message events (the accumulator's)


@dataclass(frozen=True, slots=True)
class MessageStarted(StreamEvent):
    """``message_start``: the model began a message."""

    kind: ClassVar[str] = "message_started"
    iteration: int
    message_id: str | None
    model: str | None


@dataclass(frozen=True, slots=True)
class BlockStarted(StreamEvent):
    """``content_block_start``: a block opened (for a tool: its id and name are known)."""

    kind: ClassVar[str] = "block_started"
    iteration: int
    index: int
    block_type: str
    tool_use_id: str | None = None
    name: str | None = None


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
class BlockStopped(StreamEvent):
    """``content_block_stop``: the block is complete; for a ``tool_use`` this is the dispatch point.

    ``block`` is the block in history form (tool input parsed; ``{"INVALID_JSON": raw}`` with
    ``input_error`` set when the input was not a JSON object).
    """

    kind: ClassVar[str] = "block_stopped"
    iteration: int
    index: int
    block: dict[str, Any]
    input_error: str | None = None


@dataclass(frozen=True, slots=True)
class MessageDelta(StreamEvent):
    """``message_delta``: the stop reason (and cumulative usage) arrived."""

    kind: ClassVar[str] = "message_delta"
    iteration: int
    stop_reason: str | None


@dataclass(frozen=True, slots=True)
class MessageStopped(StreamEvent):
    """``message_stop``: the message ended properly."""

    kind: ClassVar[str] = "message_stopped"
    iteration: int
    stop_reason: str | None


@dataclass(frozen=True, slots=True)
class StreamError(StreamEvent):
    """An ``error`` event in a replayed transcript (the SDK raises instead of yielding it)."""

    kind: ClassVar[str] = "stream_error"
    iteration: int
    error: dict[str, Any]


# ------------------------------------------------------------------------------ loop and tool events


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
    """Live output of a running tool: ``stream`` is "stdout" or "stderr"."""

    kind: ClassVar[str] = "tool_output_chunk"
    tool_use_id: str
    name: str
    text: str
    stream: str = "stdout"


@dataclass(frozen=True, slots=True)
class ToolProgress(StreamEvent):
    """A running tool reported a step through its ``on_progress`` callback.

    The computer tool reports its phases (``action_done``, ``frames_compared``, ``settled``,
    ``cap_reached``, ``captured``, ``encoded``) with ``elapsed_ms`` since its call started and a
    ``detail`` dict (frames compared, bytes...); the file tool reports bytes read (``phase`` "read",
    ``done`` of ``total``). ``elapsed_ms`` is the tool's own figure when it gives one, else the time
    since the call started.
    """

    kind: ClassVar[str] = "tool_progress"
    tool_use_id: str
    name: str
    phase: str
    elapsed_ms: float
    detail: dict[str, Any] = field(default_factory=dict)
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
    """Per-turn metrics computed by ``StreamingSession`` (``session.py``)."""

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


EVENT_TYPES: tuple[type[StreamEvent], ...] = (  # the whole vocabulary, in the order a turn meets it
    RequestStarted, MessageStarted, BlockStarted, TextDelta, ThinkingDelta, ToolInputProgress, BlockStopped,
    MessageDelta, MessageStopped, StreamError, ToolStarted, ToolOutputChunk, ToolProgress, ToolFinished, Retry, Usage,
    Metrics, Done,
)

__all__ = [
    "EVENT_TYPES", "BlockStarted", "BlockStopped", "Done", "MessageDelta", "MessageStarted",
    "MessageStopped", "Metrics", "RequestStarted", "Retry", "StreamError", "StreamEvent", "TextDelta",
    "ThinkingDelta", "ToolFinished", "ToolInputProgress", "ToolOutputChunk", "ToolProgress", "ToolStarted", "Usage",
    "safe_emitter",
]
