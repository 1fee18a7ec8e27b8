"""Server-Sent Events for the scripted Messages API server: plan, encode, parse.

A scripted turn (a list of content blocks plus stop reason and usage) is turned into a *plan*: the exact
list of SSE events the real API would send, in the wire format of the SDK's recorded fixtures
(``event: NAME\\ndata: {compact json}\\n\\n``). Injection points (``"at"`` strings in scenarios) are resolved
against a plan to a *slot*: slot ``s`` means "after ``s`` events were written", so slot 0 is before
``message_start`` and slot ``len(plan)`` is after ``message_stop``.

Everything here is pure: no sockets, no clocks.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PING_DATA = '{"type": "ping"}'  # the real API (and the fixtures) put a space in the ping payload
_ID_ALPHABET = string.ascii_letters + string.digits

DEFAULT_CHUNK = {"text": 12, "thinking": 16, "tool_use": 10}

POINT_PATTERNS = (
    "before_message_start",
    "after_message_start",
    "after_block_start:K",
    "in_block:K",
    "after_block:K",
    "after_delta:N",
    "after_event:N",
    "before_message_delta",
    "before_message_stop",
)


@dataclass(frozen=True)
class PlannedEvent:
    """One SSE event of a scripted message, with what injection points need to know about it."""

    event: str
    data: dict[str, Any]
    block: int | None = None  # content block index for content_block_* events
    delta_no: int | None = None  # 1-based count of content_block_delta events in the message
    pause_after_s: float = 0.0  # scripted pause after writing this event (block's pause_after_s)


def new_id(prefix: str) -> str:
    """An id shaped like the real ones: ``msg_01...``, ``req_01...``, ``toolu_01...``."""
    return prefix + "01" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


def dumps(data: Any) -> str:
    """Compact JSON as the API writes event payloads."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def encode_event(event: str, data: Mapping[str, Any] | str) -> bytes:
    """``event: X\\ndata: {json}\\n\\n``; a ``str`` payload is written as is."""
    payload = data if isinstance(data, str) else dumps(data)
    return f"event: {event}\ndata: {payload}\n\n".encode()


def encode_ping() -> bytes:
    return encode_event("ping", PING_DATA)


def chunks(text: str, size: int) -> list[str]:
    size = max(1, int(size))
    return [text[i : i + size] for i in range(0, len(text), size)]


def tool_input_json(block: Mapping[str, Any]) -> str:
    """The JSON text a tool_use block streams: ``partial_json`` if scripted, else the input as the API
    formats it (``json.dumps`` default separators, as in the fixtures: ``{"command": "ls"}``)."""
    if "partial_json" in block:
        return str(block["partial_json"])
    return json.dumps(block.get("input", {}), ensure_ascii=False)


def block_stream_text(block: Mapping[str, Any]) -> str:
    """The text a block streams in its deltas (empty for redacted_thinking)."""
    btype = block["type"]
    if btype == "tool_use":
        return tool_input_json(block)
    return str(block.get(btype, "")) if btype in ("text", "thinking") else ""


def block_pieces(block: Mapping[str, Any]) -> list[str]:
    """The delta pieces of a block: its explicit ``chunks`` or its text cut every ``chunk_size`` chars."""
    if "chunks" in block:
        return [str(c) for c in block["chunks"]]
    size = block.get("chunk_size", DEFAULT_CHUNK.get(block["type"], 12))
    return chunks(block_stream_text(block), size)


def _block_events(index: int, block: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(content_block_start payload, list of delta payloads) for one scripted block."""
    btype = block["type"]
    deltas: list[dict[str, Any]] = []
    start: dict[str, Any]
    if btype == "text":
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": c} for c in block_pieces(block)]
    elif btype == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": c} for c in block_pieces(block)]
        if not block.get("truncated"):
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif btype == "redacted_thinking":
        start = {"type": "redacted_thinking", "data": block["data"]}
    elif btype == "tool_use":
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        if "caller" in block:
            start["caller"] = block["caller"]
        deltas = [{"type": "input_json_delta", "partial_json": ""}]
        deltas += [{"type": "input_json_delta", "partial_json": c} for c in block_pieces(block)]
    else:
        raise ValueError(f"unknown block type {btype!r}")
    wrapped = [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
    return {"type": "content_block_start", "index": index, "content_block": start}, wrapped


def message_shell(message_id: str, model: str, usage: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": model,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": dict(usage),
    }


def plan_message(
    blocks: Sequence[Mapping[str, Any]],
    *,
    message_id: str,
    model: str,
    stop_reason: str,
    input_tokens: int,
    output_tokens: int,
    usage_extra: Mapping[str, Any] | None = None,
    stop_details: Mapping[str, Any] | None = None,
) -> list[PlannedEvent]:
    """All events of one streamed message. A block with ``truncated: true`` gets no content_block_stop
    (as the SDK fixture ``incomplete_partial_json_response.txt`` shows) and ends the content."""
    extra = dict(usage_extra or {})
    tier = {"service_tier": extra.pop("service_tier")} if "service_tier" in extra else {}
    start_usage = {"input_tokens": input_tokens, **extra, "output_tokens": 1, **tier}
    plan = [PlannedEvent("message_start", {"type": "message_start", "message": message_shell(message_id, model, start_usage)})]
    delta_no = 0
    for index, block in enumerate(blocks):
        start, deltas = _block_events(index, block)
        plan.append(PlannedEvent("content_block_start", start, block=index))
        for d in deltas:
            delta_no += 1
            plan.append(PlannedEvent("content_block_delta", d, block=index, delta_no=delta_no))
        if block.get("truncated"):
            break
        plan.append(
            PlannedEvent(
                "content_block_stop",
                {"type": "content_block_stop", "index": index},
                block=index,
                pause_after_s=float(block.get("pause_after_s", 0.0)),
            )
        )
    delta: dict[str, Any] = {"stop_reason": stop_reason, "stop_sequence": None}
    if stop_details is not None:
        delta["stop_details"] = dict(stop_details)
    plan.append(PlannedEvent("message_delta", {"type": "message_delta", "delta": delta, "usage": {"output_tokens": output_tokens}}))
    plan.append(PlannedEvent("message_stop", {"type": "message_stop"}))
    return plan


def final_content(blocks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The content array of the non-streaming response for the same scripted blocks."""
    out: list[dict[str, Any]] = []
    for block in blocks:
        btype = block["type"]
        if btype == "text":
            out.append({"type": "text", "text": block.get("text", "")})
        elif btype == "thinking":
            sig = "" if block.get("truncated") else block["signature"]
            out.append({"type": "thinking", "thinking": block.get("thinking", ""), "signature": sig})
        elif btype == "redacted_thinking":
            out.append({"type": "redacted_thinking", "data": block["data"]})
        elif btype == "tool_use":
            tool_input: Any = block.get("input", {})
            if "partial_json" in block:
                try:
                    tool_input = json.loads(block["partial_json"])
                except ValueError:
                    tool_input = {}
            out.append({"type": "tool_use", "id": block["id"], "name": block["name"], "input": tool_input})
        if block.get("truncated"):
            break
    return out


_POINT_RE = re.compile(r"^(?P<name>[a-z_]+)(?::(?P<arg>\d+))?$")


def resolve_point(plan: Sequence[PlannedEvent], at: str) -> int:
    """Slot (number of events already written) at which an injection ``at`` fires.

    Raises ValueError when ``at`` is malformed or names a point this message never reaches.
    """
    m = _POINT_RE.match(at)
    if not m:
        raise ValueError(f"bad injection point {at!r}; expected one of {', '.join(POINT_PATTERNS)}")
    name, arg = m.group("name"), m.group("arg")
    n = int(arg) if arg is not None else None
    needs_arg = {"after_block_start", "in_block", "after_block", "after_delta", "after_event"}
    known = needs_arg | {"before_message_start", "after_message_start", "before_message_delta", "before_message_stop"}
    if name not in known or (name in needs_arg) != (n is not None):
        raise ValueError(f"bad injection point {at!r}; expected one of {', '.join(POINT_PATTERNS)}")

    def index_of(pred: Any, what: str) -> int:
        for i, ev in enumerate(plan):
            if pred(ev):
                return i
        raise ValueError(f"injection point {at!r} is never reached: this message has no {what}")

    if name == "before_message_start":
        return 0
    if name == "after_message_start":
        return 1
    if name == "after_event":
        if n is None or n > len(plan):
            raise ValueError(f"injection point {at!r} is never reached: the message has {len(plan)} events")
        return n
    if name == "before_message_delta":
        return index_of(lambda e: e.event == "message_delta", "message_delta")
    if name == "before_message_stop":
        return index_of(lambda e: e.event == "message_stop", "message_stop")
    if name == "after_delta":
        if n is None or n < 1:
            raise ValueError(f"bad injection point {at!r}: deltas are counted from 1")
        return index_of(lambda e: e.delta_no == n, f"delta number {n}") + 1
    if name == "after_block_start":
        return index_of(lambda e: e.event == "content_block_start" and e.block == n, f"block {n}") + 1
    if name == "after_block":
        return index_of(lambda e: e.event == "content_block_stop" and e.block == n, f"content_block_stop for block {n}") + 1
    # in_block: strictly between the block's start and its stop, in the middle of its deltas
    start = index_of(lambda e: e.event == "content_block_start" and e.block == n, f"block {n}")
    deltas = [i for i, e in enumerate(plan) if e.event == "content_block_delta" and e.block == n]
    if not deltas:
        return start + 1
    return deltas[max(1, len(deltas) // 2) - 1] + 1


def injection_points(plan: Sequence[PlannedEvent]) -> list[str]:
    """Every named point of this message, in stream order (for "inject at every point" sweeps)."""
    points = ["before_message_start", "after_message_start"]
    for ev in plan:
        if ev.event == "content_block_start":
            points += [f"after_block_start:{ev.block}", f"in_block:{ev.block}"]
        elif ev.event == "content_block_delta":
            points.append(f"after_delta:{ev.delta_no}")
        elif ev.event == "content_block_stop":
            points.append(f"after_block:{ev.block}")
    points += ["before_message_delta", "before_message_stop"]
    return sorted(points, key=lambda p: resolve_point(plan, p))  # stable: ties keep the order above


@dataclass(frozen=True)
class ParsedEvent:
    event: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def parse_sse(raw: bytes | str) -> list[ParsedEvent]:
    """Decode an SSE body the way the SDK's decoder does: dispatch on a blank line, skip ``:`` comments,
    join several ``data:`` lines with newlines, strip one space after the colon. A trailing event that is
    not followed by a blank line is NOT dispatched (the fixtures' quirk)."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    events: list[ParsedEvent] = []
    event: str | None = None
    data: list[str] = []
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\r\n")
        if not stripped:
            if line.endswith(("\n", "\r")) and (event is not None or data):
                events.append(ParsedEvent(event, "\n".join(data)))
            event, data = None, []
            continue
        if stripped.startswith(":"):
            continue
        field, _, value = stripped.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
    return events


def event_names(events: Iterable[ParsedEvent]) -> list[str | None]:
    return [e.event for e in events]
