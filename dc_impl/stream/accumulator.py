"""Pure accumulation of one streamed Messages API response.

``apply_event(state, event)`` folds one API stream event into a ``TurnState`` and returns it with the
stream events it caused (``events.TextDelta``, ``ToolInputProgress``, ``BlockStopped``, ...): the same
objects the loop acts on and the front ends receive, so nothing translates between them. It does no
I/O and reads no clock except ``state.clock`` (injectable; it only stamps the events' ``t``), so a
recorded SSE transcript replays through it deterministically.

Events may be raw SSE payloads (``dict`` decoded from a ``data:`` line) or the SDK's typed event
objects (``client.beta.messages.create(stream=True)`` yields those); both are read the same way.

Rules kept here (docs/streaming-rules.md, "Accumulating a message" and "History"):
- text and thinking deltas append; ``signature_delta`` *replaces* the signature;
- ``redacted_thinking`` and unknown block types are kept exactly as started (plus known deltas);
  unknown delta and event types are ignored, as the API asks;
- tool input is the concatenation of every ``partial_json`` fragment, parsed once at
  ``content_block_stop`` (the earliest safe dispatch point); invalid JSON becomes ``input_error``
  and the block's input is wrapped as ``{"INVALID_JSON": raw}`` so history stays a valid object;
- ``message_delta`` usage is cumulative: values overwrite, never add;
- a message is complete only when it has a stop reason and every block was closed (and every thinking
  block signed): ``message_completeness``.

The state is updated in place (copying text on every delta would make long streams quadratic);
"pure" here means no side effects outside the state object the caller owns.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .events import (
    BlockStarted,
    BlockStopped,
    MessageDelta,
    MessageStarted,
    MessageStopped,
    StreamError,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolInputProgress,
)

TOOL_BLOCK_TYPES = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


class StreamProtocolError(ValueError):
    """The events broke the documented grammar (e.g. a delta before ``message_start``)."""


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if type(obj) is dict:
        return obj.get(key, default)
    return getattr(obj, key, default)


def _as_dict(obj: Any) -> dict[str, Any]:
    """A plain dict of a payload (dict or SDK model), with exactly the fields the wire carried."""
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return dict(obj)
    dump = getattr(obj, "model_dump", None)
    if dump is not None:  # by_alias: "from" not "from_"; exclude_unset: nothing the wire did not send
        return dump(mode="json", by_alias=True, exclude_unset=True)
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


# ------------------------------------------------------------------------------------------------- state


@dataclass(slots=True)
class BlockState:
    index: int
    type: str
    block: dict[str, Any]
    parts: list[str] = field(default_factory=list)      # text / thinking fragments
    json_parts: list[str] = field(default_factory=list)  # tool input fragments
    json_chars: int = 0
    complete: bool = False
    input_error: str | None = None

    def snapshot(self) -> dict[str, Any]:
        """The block as it stands now (text and thinking joined), without closing it."""
        if not self.parts or self.complete:
            return self.block
        out = dict(self.block)
        key = "thinking" if self.type == "thinking" else "text"
        out[key] = out.get(key, "") + "".join(self.parts)
        return out


@dataclass(slots=True)
class TurnState:
    """One message as it streams. ``iteration`` and ``clock`` only label the events it produces."""

    iteration: int = 0
    clock: Callable[[], float] = time.monotonic
    message_id: str | None = None
    model: str | None = None
    started: bool = False
    stopped: bool = False
    stop_reason: str | None = None
    stop_sequence: str | None = None
    stop_details: dict[str, Any] | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    blocks: list[BlockState] = field(default_factory=list)
    by_index: dict[int, BlockState] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    deltas: int = 0

    @property
    def thinking_tokens(self) -> int | None:
        details = self.usage.get("output_tokens_details")
        if isinstance(details, dict) and details.get("thinking_tokens") is not None:
            return int(details["thinking_tokens"])
        return None


# ------------------------------------------------------------------------------------------------ reducer


def _open_block(index: int, payload: Any) -> BlockState:
    btype = _get(payload, "type") or "unknown"
    if btype == "text":
        block: dict[str, Any] = {"type": "text", "text": _get(payload, "text") or ""}
        citations = _get(payload, "citations")
        if citations:
            block["citations"] = [_as_dict(c) for c in citations]
    elif btype == "thinking":
        block = {"type": "thinking", "thinking": _get(payload, "thinking") or "",
                 "signature": _get(payload, "signature") or ""}
    elif btype == "redacted_thinking":
        block = {"type": "redacted_thinking", "data": _get(payload, "data") or ""}
    elif btype in TOOL_BLOCK_TYPES:
        block = _as_dict(payload)
        block["input"] = _as_dict(_get(payload, "input")) if _get(payload, "input") is not None else {}
    else:  # unknown or server-result blocks: keep them whole
        block = _as_dict(payload)
        block.setdefault("type", btype)
    return BlockState(index=index, type=btype, block=block)


def _close_block(bs: BlockState) -> None:
    if bs.parts:
        key = "thinking" if bs.type == "thinking" else "text"
        bs.block[key] = bs.block.get(key, "") + "".join(bs.parts)
        bs.parts.clear()
    if bs.type in TOOL_BLOCK_TYPES and bs.json_parts:
        raw = "".join(bs.json_parts)
        if raw.strip():
            try:
                parsed = json.loads(raw)
            except json.JSONDecodeError as exc:
                bs.input_error = f"tool input is not valid JSON ({exc.msg} at char {exc.pos})"
                parsed = {"INVALID_JSON": raw}
            else:
                if not isinstance(parsed, dict):
                    bs.input_error = f"tool input must be a JSON object, got {type(parsed).__name__}"
                    parsed = {"INVALID_JSON": raw}
            bs.block["input"] = parsed
    bs.complete = True


def _apply_delta(state: TurnState, bs: BlockState, delta: Any) -> StreamEvent | None:
    dtype = _get(delta, "type")
    if dtype == "text_delta":
        text = _get(delta, "text") or ""
        bs.parts.append(text)
        return TextDelta(iteration=state.iteration, index=bs.index, text=text, t=state.clock())
    if dtype == "thinking_delta":
        thinking = _get(delta, "thinking") or ""
        bs.parts.append(thinking)
        return ThinkingDelta(iteration=state.iteration, index=bs.index, thinking=thinking, t=state.clock())
    if dtype == "signature_delta":
        bs.block["signature"] = _get(delta, "signature") or ""
        return None
    if dtype == "input_json_delta":
        frag = _get(delta, "partial_json") or ""
        bs.json_parts.append(frag)
        bs.json_chars += len(frag)
        return ToolInputProgress(iteration=state.iteration, index=bs.index, tool_use_id=bs.block.get("id", ""),
                                 name=bs.block.get("name", ""), partial_json=frag, chars=bs.json_chars,
                                 t=state.clock())
    if dtype == "citations_delta":
        bs.block.setdefault("citations", []).append(_as_dict(_get(delta, "citation")))
        return None
    if dtype == "compaction_delta":
        for key in ("content", "encrypted_content"):
            value = _get(delta, key)
            if value is not None:
                bs.block[key] = value
        return None
    return None  # unknown delta types are ignored, as the API asks


def apply_event(state: TurnState, event: Any) -> tuple[TurnState, list[StreamEvent]]:
    """Fold one API stream event into ``state``; return the state and the stream events it caused."""
    etype = _get(event, "type")
    if etype == "content_block_delta":
        bs = state.by_index.get(_get(event, "index"))
        if bs is None or bs.complete:
            raise StreamProtocolError(f"content_block_delta for block {_get(event, 'index')} that is not open")
        state.deltas += 1
        action = _apply_delta(state, bs, _get(event, "delta"))
        return state, [action] if action is not None else []
    if etype == "message_start":
        msg = _get(event, "message")
        state.started = True
        state.message_id = _get(msg, "id")
        state.model = _get(msg, "model")
        state.usage = _as_dict(_get(msg, "usage"))
        return state, [MessageStarted(iteration=state.iteration, message_id=state.message_id, model=state.model,
                                      t=state.clock())]
    if etype in ("ping", None):
        return state, []
    if etype == "error":
        state.error = _as_dict(_get(event, "error"))
        return state, [StreamError(iteration=state.iteration, error=state.error, t=state.clock())]
    if not state.started:
        raise StreamProtocolError(f'unexpected event order: got {etype} before "message_start"')
    if etype == "content_block_start":
        index = _get(event, "index")
        if index in state.by_index:
            raise StreamProtocolError(f"content_block_start for block {index} twice")
        bs = _open_block(index, _get(event, "content_block"))
        state.blocks.append(bs)
        state.by_index[index] = bs
        return state, [BlockStarted(iteration=state.iteration, index=index, block_type=bs.type,
                                    tool_use_id=bs.block.get("id"), name=bs.block.get("name"), t=state.clock())]
    if etype == "content_block_stop":
        bs = state.by_index.get(_get(event, "index"))
        if bs is None:
            raise StreamProtocolError(f"content_block_stop for unknown block {_get(event, 'index')}")
        if bs.complete:
            return state, []
        _close_block(bs)
        return state, [BlockStopped(iteration=state.iteration, index=bs.index, block=bs.block,
                                    input_error=bs.input_error, t=state.clock())]
    if etype == "message_delta":
        delta = _get(event, "delta")
        state.stop_reason = _get(delta, "stop_reason", state.stop_reason)
        state.stop_sequence = _get(delta, "stop_sequence", state.stop_sequence)
        details = _get(delta, "stop_details")
        if details is not None:
            state.stop_details = _as_dict(details)
        state.usage.update(_as_dict(_get(event, "usage")))
        return state, [MessageDelta(iteration=state.iteration, stop_reason=state.stop_reason, t=state.clock())]
    if etype == "message_stop":
        state.stopped = True
        return state, [MessageStopped(iteration=state.iteration, stop_reason=state.stop_reason, t=state.clock())]
    return state, []  # unknown event names are ignored, as the API asks


def replay(events: Iterable[Any], *, clock: Callable[[], float] = time.monotonic) -> tuple[TurnState, list[StreamEvent]]:
    """Apply every API event of an iterable to a fresh state; return it and all stream events in order."""
    state = TurnState(clock=clock)
    out: list[StreamEvent] = []
    for ev in events:
        state, produced = apply_event(state, ev)
        out.extend(produced)
    return state, out


# ---------------------------------------------------------------------------------------------- queries


def message_completeness(state: TurnState) -> tuple[bool, str | None]:
    """Can this message go into history as a whole? Returns (complete, reason if not).

    Complete: ``message_start`` seen, a stop reason, every block closed, every thinking block signed
    (docs/streaming-rules.md, "A complete message").
    """
    if not state.started:
        return False, "no message_start"
    if not state.stopped and state.stop_reason is None:
        return False, "stream ended before message_stop"
    if state.stop_reason is None:
        return False, "no stop_reason"
    for bs in state.blocks:
        if not bs.complete:
            return False, f"block {bs.index} ({bs.type}) has no content_block_stop"
        if bs.type == "thinking" and not bs.block.get("signature"):
            return False, f"thinking block {bs.index} has no signature"
    return True, None


def _history_block(bs: BlockState) -> dict[str, Any] | None:
    if bs.type == "text":
        return bs.block if bs.block.get("text") else None
    return bs.block


def final_blocks(state: TurnState) -> list[dict[str, Any]]:
    """History form of a complete message: every block in order, empty text blocks dropped."""
    out = []
    for bs in state.blocks:
        block = _history_block(bs)
        if block is not None:
            out.append(block)
    return out


def completed_prefix(state: TurnState, *, keep_partial_text: bool = False) -> list[dict[str, Any]]:
    """History form of an unfinished message: the leading run of complete blocks (docs/streaming-rules.md).

    Stops at the first block that is not complete, or a thinking block without a signature. A text
    block cut off in the middle is kept when ``keep_partial_text`` (text can be resumed; tool input
    and thinking cannot). Empty text blocks are dropped.
    """
    out: list[dict[str, Any]] = []
    for bs in state.blocks:
        if bs.complete and not (bs.type == "thinking" and not bs.block.get("signature")):
            block = _history_block(bs)
            if block is not None:
                out.append(block)
            continue
        if keep_partial_text and bs.type == "text":
            snap = bs.snapshot()
            if snap.get("text"):
                out.append({**snap})
        break
    return out


__all__ = [
    "TOOL_BLOCK_TYPES", "BlockState", "StreamProtocolError", "TurnState", "apply_event", "completed_prefix",
    "final_blocks", "message_completeness", "replay",
]
