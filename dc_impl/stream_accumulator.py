"""Pure accumulation of one streamed Messages API response.

``apply_event(state, event)`` folds one stream event into a ``TurnState`` and returns it with the
list of *actions* the event caused (text appended, tool input progress, a block closed, ...). It does
no I/O and reads no clock, so a recorded SSE transcript replays through it deterministically.

Events may be raw SSE payloads (``dict`` decoded from a ``data:`` line) or the SDK's typed event
objects (``client.beta.messages.create(stream=True)`` yields those); both are read the same way.

Rules kept here (see the streaming reference, §1 and §2):
- text and thinking deltas append; ``signature_delta`` *replaces* the signature;
- ``redacted_thinking`` and unknown block types are kept exactly as started (plus known deltas);
- tool input is the concatenation of every ``partial_json`` fragment, parsed once at
  ``content_block_stop`` (the earliest safe dispatch point); invalid JSON becomes ``input_error``
  and the block's input is wrapped as ``{"INVALID_JSON": raw}`` so history stays a valid object;
- ``message_delta`` usage is cumulative: values overwrite, never add;
- a message is complete only per R10 (``message_completeness``).

The state is updated in place (copying text on every delta would make long streams quadratic);
"pure" here means no side effects outside the state object the caller owns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

TOOL_BLOCK_TYPES = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
CLIENT_TOOL_TYPE = "tool_use"
TRUNCATING_STOP_REASONS = frozenset({"max_tokens", "model_context_window_exceeded"})


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


# ----------------------------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class MessageStarted:
    message_id: str | None
    model: str | None


@dataclass(frozen=True, slots=True)
class BlockOpened:
    index: int
    block_type: str
    tool_use_id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class TextAppended:
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class ThinkingAppended:
    index: int
    thinking: str


@dataclass(frozen=True, slots=True)
class InputAppended:
    index: int
    tool_use_id: str
    name: str
    partial_json: str
    chars: int


@dataclass(frozen=True, slots=True)
class BlockClosed:
    """A block reached ``content_block_stop``; for a ``tool_use`` this is the dispatch point."""

    index: int
    block: dict[str, Any]
    input_error: str | None = None


@dataclass(frozen=True, slots=True)
class MessageDeltaSeen:
    stop_reason: str | None


@dataclass(frozen=True, slots=True)
class MessageStopped:
    stop_reason: str | None


@dataclass(frozen=True, slots=True)
class ErrorSeen:
    """An ``error`` event in a replayed transcript (the SDK raises instead of yielding it)."""

    error: dict[str, Any]


Action = (MessageStarted | BlockOpened | TextAppended | ThinkingAppended | InputAppended | BlockClosed
          | MessageDeltaSeen | MessageStopped | ErrorSeen)

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
    else:  # unknown or server-result blocks: keep them whole (R1, §4 #5)
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
            except ValueError as exc:
                bs.input_error = f"tool input is not valid JSON ({exc.msg} at char {exc.pos})"
                parsed = {"INVALID_JSON": raw}
            else:
                if not isinstance(parsed, dict):
                    bs.input_error = f"tool input must be a JSON object, got {type(parsed).__name__}"
                    parsed = {"INVALID_JSON": raw}
            bs.block["input"] = parsed
    bs.complete = True


def _apply_delta(state: TurnState, bs: BlockState, delta: Any) -> Action | None:
    dtype = _get(delta, "type")
    if dtype == "text_delta":
        text = _get(delta, "text") or ""
        bs.parts.append(text)
        return TextAppended(bs.index, text)
    if dtype == "thinking_delta":
        thinking = _get(delta, "thinking") or ""
        bs.parts.append(thinking)
        return ThinkingAppended(bs.index, thinking)
    if dtype == "signature_delta":
        bs.block["signature"] = _get(delta, "signature") or ""
        return None
    if dtype == "input_json_delta":
        frag = _get(delta, "partial_json") or ""
        bs.json_parts.append(frag)
        bs.json_chars += len(frag)
        return InputAppended(bs.index, bs.block.get("id", ""), bs.block.get("name", ""), frag, bs.json_chars)
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


def apply_event(state: TurnState, event: Any) -> tuple[TurnState, list[Action]]:
    """Fold one stream event into ``state``; return the state and the actions it caused."""
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
        return state, [MessageStarted(state.message_id, state.model)]
    if etype in ("ping", None):
        return state, []
    if etype == "error":
        state.error = _as_dict(_get(event, "error"))
        return state, [ErrorSeen(state.error)]
    if not state.started:
        raise StreamProtocolError(f'unexpected event order: got {etype} before "message_start"')
    if etype == "content_block_start":
        index = _get(event, "index")
        if index in state.by_index:
            raise StreamProtocolError(f"content_block_start for block {index} twice")
        bs = _open_block(index, _get(event, "content_block"))
        state.blocks.append(bs)
        state.by_index[index] = bs
        return state, [BlockOpened(index, bs.type, bs.block.get("id"), bs.block.get("name"))]
    if etype == "content_block_stop":
        bs = state.by_index.get(_get(event, "index"))
        if bs is None:
            raise StreamProtocolError(f"content_block_stop for unknown block {_get(event, 'index')}")
        if bs.complete:
            return state, []
        _close_block(bs)
        return state, [BlockClosed(bs.index, bs.block, bs.input_error)]
    if etype == "message_delta":
        delta = _get(event, "delta")
        state.stop_reason = _get(delta, "stop_reason", state.stop_reason)
        state.stop_sequence = _get(delta, "stop_sequence", state.stop_sequence)
        details = _get(delta, "stop_details")
        if details is not None:
            state.stop_details = _as_dict(details)
        state.usage.update(_as_dict(_get(event, "usage")))
        return state, [MessageDeltaSeen(state.stop_reason)]
    if etype == "message_stop":
        state.stopped = True
        return state, [MessageStopped(state.stop_reason)]
    return state, []  # unknown event names are ignored (DOC-stream "Other events")


def replay(events: Any) -> tuple[TurnState, list[Action]]:
    """Apply every event of an iterable to a fresh state; return it and all actions in order."""
    state = TurnState()
    actions: list[Action] = []
    for ev in events:
        state, acts = apply_event(state, ev)
        actions.extend(acts)
    return state, actions


# ---------------------------------------------------------------------------------------------- queries


def message_completeness(state: TurnState) -> tuple[bool, str | None]:
    """R10: can this message go into history as a whole? Returns (complete, reason if not)."""
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
    """History form of a complete message: every block in order, empty text blocks dropped (R1)."""
    out = []
    for bs in state.blocks:
        block = _history_block(bs)
        if block is not None:
            out.append(block)
    return out


def completed_prefix(state: TurnState, *, keep_partial_text: bool = False) -> list[dict[str, Any]]:
    """History form of an unfinished message: the leading run of complete blocks (R10, R11b).

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


def client_tool_uses(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``tool_use`` blocks (client tools) of a block list, in order."""
    return [b for b in blocks if b.get("type") == CLIENT_TOOL_TYPE]


__all__ = [
    "CLIENT_TOOL_TYPE", "TOOL_BLOCK_TYPES", "TRUNCATING_STOP_REASONS", "Action", "BlockClosed", "BlockOpened",
    "BlockState", "ErrorSeen", "InputAppended", "MessageDeltaSeen", "MessageStarted", "MessageStopped",
    "StreamProtocolError", "TextAppended", "ThinkingAppended", "TurnState", "apply_event", "client_tool_uses",
    "completed_prefix", "final_blocks", "message_completeness", "replay",
]
