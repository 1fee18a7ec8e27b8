"""One agent turn as the page runs it: parameters, callbacks into the live view, history healing, metrics.

``TurnJob.run`` is the coroutine a ``TurnRunner`` executes. It calls either the unified streaming
loop (typed events into ``LiveTurn`` through ``apply_event``) or the host's original loop (whole
blocks through ``apply_block``), with upstream's keyword arguments. It works on its own copy of the
history list, which the loop appends to (and, on cancel, heals) in place; the page adopts that list
when the turn has ended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_args

from ..._compat import ToolResult
from ...stream.events import ToolFinished
from .. import reducer as ui
from ..text_safety import safe_text
from .runner import CANCELLED, FAILED, TurnRunner

UPDATES_PER_S = 10.0  # coalesced delta flushes into the live view
INTERRUPT_TEXT = "(user stopped or interrupted and wrote the following)"
INTERRUPT_TOOL_ERROR = "human stopped or interrupted tool execution"


@dataclass(frozen=True)
class TurnParams:
    """Upstream ``sampling_loop`` keyword arguments chosen in the sidebar."""

    model: str
    provider: Any
    system_prompt_suffix: str
    api_key: str
    only_n_most_recent_images: int | None
    max_tokens: int
    tool_version: str
    thinking_budget: int | None
    token_efficient_tools_beta: bool


@dataclass
class TurnJob:
    params: TurnParams
    messages: list[dict[str, Any]]
    streaming: bool
    stream_thinking: bool
    original_loop: Callable[..., Any]
    live: ui.LiveTurn = field(default_factory=ui.LiveTurn)
    tools: dict[str, Any] = field(default_factory=dict)
    responses: list[tuple[Any, Any]] = field(default_factory=list)
    api_error: BaseException | None = None
    start_len: int = 0

    def __post_init__(self) -> None:
        self.start_len = len(self.messages)

    def loop_kwargs(self) -> dict[str, Any]:
        p = self.params
        return {
            "model": p.model,
            "provider": p.provider,
            "system_prompt_suffix": p.system_prompt_suffix,
            "messages": self.messages,
            "output_callback": self.on_block,
            "tool_output_callback": self.on_tool_result,
            "api_response_callback": self.on_api_response,
            "api_key": p.api_key,
            "only_n_most_recent_images": p.only_n_most_recent_images,
            "max_tokens": p.max_tokens,
            "tool_version": p.tool_version,
            "thinking_budget": p.thinking_budget,
            "token_efficient_tools_beta": p.token_efficient_tools_beta,
        }

    async def run(self) -> list[dict[str, Any]]:
        if self.streaming:
            from ...stream.session import StreamingSession
            from ...unified_streaming_loop import sampling_loop as unified_loop

            session = StreamingSession(sink=self.on_event, max_updates_per_s=UPDATES_PER_S)
            try:
                result = await unified_loop(**self.loop_kwargs(), stream_callback=session)
            finally:
                session.close()  # flush what the coalescer still holds, also on cancel
        else:
            result = await self.original_loop(**self.loop_kwargs())
        return list(result) if result is not None else self.messages

    # --- callbacks (called on the runner's thread) ---
    def on_event(self, event: Any) -> None:
        ui.apply_event(self.live, event)
        if isinstance(event, ToolFinished) and event.result is not None:
            self.tools.setdefault(event.tool_use_id, event.result)

    def on_block(self, block: Any) -> None:
        if not self.streaming:  # the streaming loop reported this block already, delta by delta
            ui.apply_block(self.live, block)

    def on_tool_result(self, result: Any, tool_use_id: str) -> None:
        self.tools[tool_use_id] = result
        if not self.streaming:
            ui.apply_tool_result(self.live, result, tool_use_id)

    def on_api_response(self, request: Any, response: Any, error: BaseException | None) -> None:
        self.responses.append((request, response))
        if error is not None:
            self.api_error = error


def tool_versions(host_tools: Any) -> tuple[str, ...]:
    return tuple(get_args(getattr(host_tools, "ToolVersion", None))) or ("computer_use_20250124",)


def providers(host_loop: Any) -> tuple[str, ...]:
    return tuple(str(p.value) for p in host_loop.APIProvider)


def interruption_blocks(messages: list[dict[str, Any]], tools: dict[str, Any], interrupted: bool) -> list[dict[str, Any]]:
    """Upstream's ``maybe_add_interruption_blocks``, safe for an already healed history.

    After an interrupted turn: an ``is_error`` result for every ``tool_use`` of a trailing assistant
    message (there is none when the streaming loop already closed the turn), then upstream's note.
    """
    if not interrupted:
        return []
    blocks: list[dict[str, Any]] = []
    last = messages[-1] if messages else None
    if last is not None and last.get("role") == "assistant" and isinstance(last.get("content"), list):
        for block in last["content"]:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                tools[block["id"]] = ToolResult(error=INTERRUPT_TOOL_ERROR)
                blocks.append(
                    {"type": "tool_result", "tool_use_id": block["id"], "content": INTERRUPT_TOOL_ERROR, "is_error": True}
                )
    blocks.append({"type": "text", "text": INTERRUPT_TEXT})
    return blocks


def add_user_text(messages: list[dict[str, Any]], text: str, prefix: list[dict[str, Any]]) -> None:
    messages.append({"role": "user", "content": [*prefix, {"type": "text", "text": text}]})


# --- metrics -----------------------------------------------------------------------------------


def turn_figures(turn: ui.LiveTurn, runner: TurnRunner) -> dict[str, float | int | None]:
    """Per-turn numbers: the loop's ``Metrics`` where it sent them, else derived from the events."""
    m = turn.metrics
    out_tokens = sum(u.output_tokens for u in turn.usage)
    ttft = m.get("ttft_s", m.get("time_to_first_token_s"))
    if ttft is None and turn.first_delta_t is not None and turn.first_request_t is not None:
        ttft = max(0.0, turn.first_delta_t - turn.first_request_t)
    rate = m.get("tokens_per_s", m.get("output_tokens_per_s"))
    if rate is None and out_tokens and turn.first_delta_t is not None and turn.last_event_t is not None:
        span = turn.last_event_t - turn.first_delta_t
        rate = out_tokens / span if span > 0 else None
    saved = m.get("time_saved_s", m.get("tool_time_saved_s"))
    mid_stream = sum(1 for s in turn.segments if s.kind == ui.TOOL and s.mid_stream)
    return {
        "ttft_s": ttft,
        "tokens_per_s": rate,
        "output_tokens": int(m.get("output_tokens", out_tokens) or 0),
        "api_calls": len(turn.usage),
        "mid_stream_tools": mid_stream,
        "time_saved_s": saved,
        "total_s": runner.elapsed_s,
    }


def format_figures(f: dict[str, float | int | None]) -> str:
    parts = []
    if f["ttft_s"] is not None:
        parts.append(f"first token {f['ttft_s']:.2f} s")
    if f["tokens_per_s"]:
        parts.append(f"{f['tokens_per_s']:.0f} tokens/s")
    if f["output_tokens"]:
        parts.append(f"{f['output_tokens']} output tokens")
    if f["api_calls"]:
        parts.append(f"{f['api_calls']} API call{'s' if f['api_calls'] != 1 else ''}")
    if f["time_saved_s"] is not None:
        parts.append(f"mid-stream tools saved {f['time_saved_s']:.2f} s")
    elif f["mid_stream_tools"]:
        parts.append(f"{f['mid_stream_tools']} tool(s) started mid-stream")
    parts.append(f"total {f['total_s']:.1f} s")
    return "Turn metrics: " + " · ".join(parts)


def turn_note(turn: ui.LiveTurn, runner: TurnRunner) -> dict[str, Any]:
    """What stays on the page under a finished turn: its metrics, retry notices, how it ended."""
    notices = [s.text for s in turn.segments if s.kind == ui.NOTICE]
    outcome = runner.outcome
    if outcome == FAILED:
        notices.append(safe_text(f"The turn failed: {runner.error}"))
    return {"summary": format_figures(turn_figures(turn, runner)), "notices": notices, "outcome": outcome}


def progress_caption(turn: ui.LiveTurn, runner: TurnRunner, now: float) -> str:
    if runner.cancel_requested and not runner.done:
        return "Stopping…"
    state = "finishing" if runner.done else ("stopped" if runner.outcome == CANCELLED else "running")
    ttft = ""
    if turn.first_delta_t is not None and turn.first_request_t is not None:
        ttft = f" · first token after {turn.first_delta_t - turn.first_request_t:.2f} s"
    return f"Turn {state} · {max(0.0, now - runner.started_at):.1f} s{ttft}"
