"""Streamlit rendering for the Claude DC page: history (as upstream shows it) and the live turn.

History rendering follows upstream's ``_render_message``: one chat message per block, tool results
from ``st.session_state.tools`` (the API's ``tool_result`` is not enough to render), thinking in a
collapsed expander. The live turn is drawn by ``live.py``, which uses ``render_live_tool`` here.

Tool output is data, not page content: it is always drawn as text (``st.code``; a tool's error as one
fenced code block inside ``st.error`` that the text cannot close), never as markdown or HTML, after
``text_safety.safe_text`` (control characters and bidi overrides shown visibly) and capped to head
and tail like the live view. Model text stays markdown, as upstream shows it, but made safe the same
way.
"""

from __future__ import annotations

import base64
import json
import re
import traceback
from typing import Any

import streamlit as st

from ..._compat import ToolResult
from .. import reducer as ui
from ..text_safety import clip_text, safe_text

USER, BOT, TOOL = "user", "assistant", "tool"


def render_tool_result(result: Any, *, hide_images: bool) -> None:
    """A finished tool's ``ToolResult`` (host's or ours: told apart by shape, as upstream does)."""
    output = getattr(result, "output", None)
    error = getattr(result, "error", None)
    image = getattr(result, "base64_image", None)
    if output:
        st.code(tool_text(str(output)), language=None)
    if error:
        st.error(fenced(tool_text(str(error))))
    if image and not hide_images:
        st.image(base64.b64decode(image))


def tool_text(text: str) -> str:
    """A tool's text as the page shows it: safe, head and tail at most (with what was left out)."""
    return clip_text(text, ui.OUTPUT_HEAD_CHARS, ui.OUTPUT_TAIL_CHARS).text


def fenced(text: str) -> str:
    """``text`` as one markdown code block: the fence is longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def render_message(sender: str, message: Any, *, hide_images: bool, thinking_expander: bool) -> None:
    """One history item: user text, an assistant block, or a tool result (upstream's layout)."""
    is_tool_result = not isinstance(message, str | dict)
    if not message or (
        is_tool_result and hide_images and not getattr(message, "error", None) and not getattr(message, "output", None)
    ):
        return
    with st.chat_message(sender):
        if is_tool_result:
            render_tool_result(message, hide_images=hide_images)
        elif isinstance(message, dict):
            kind = message.get("type")
            if kind == "text":
                st.write(safe_text(str(message.get("text", ""))))
            elif kind == "thinking":
                thinking = safe_text(str(message.get("thinking", "")))
                if thinking_expander:
                    with st.expander("Thinking", expanded=False):
                        st.markdown(thinking)
                else:
                    st.markdown(f"[Thinking]\n\n{thinking}")
            elif kind == "redacted_thinking":
                st.caption("[Thinking redacted by the API]")
            elif kind == "tool_use":
                st.code(safe_text(f"Tool Use: {message.get('name')}\nInput: {message.get('input')}"), language=None)
            elif kind != "tool_result":
                st.caption(safe_text(f"[{kind} block]"))
        else:
            st.markdown(safe_text(str(message)))


def render_history(
    messages: list[dict[str, Any]],
    tools: dict[str, Any],
    turn_notes: dict[int, dict[str, Any]],
    *,
    hide_images: bool,
    thinking_expander: bool,
) -> None:
    """Every stored message, with each finished turn's metrics and notices after its last message."""
    for i, message in enumerate(messages):
        content = message.get("content")
        if isinstance(content, str):
            render_message(message["role"], content, hide_images=hide_images, thinking_expander=thinking_expander)
        elif isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    result = tools.get(str(block.get("tool_use_id"))) or _result_from_block(block)
                    render_message(TOOL, result, hide_images=hide_images, thinking_expander=thinking_expander)
                else:
                    render_message(
                        message["role"], block, hide_images=hide_images, thinking_expander=thinking_expander
                    )
        note = turn_notes.get(i)
        if note:
            render_turn_note(note)


def _result_from_block(block: dict[str, Any]) -> Any:
    """A ``ToolResult`` for a stored result we have no rendering of (e.g. closed by the loop on Stop)."""
    content = block.get("content")
    if isinstance(content, list):
        content = "\n".join(str(c.get("text", "")) for c in content if isinstance(c, dict) and c.get("type") == "text")
    text = str(content or "")
    return ToolResult(error=text or "(no output)") if block.get("is_error") else ToolResult(output=text)


def render_turn_note(note: dict[str, Any]) -> None:
    for notice in note.get("notices", []):
        st.caption(f":material/info: {notice}")
    if note.get("outcome") == "cancelled":
        st.caption(":material/stop_circle: Turn stopped by the user; the conversation was closed cleanly and can continue.")
    summary = note.get("summary")
    if summary:
        st.caption(summary)


def render_live_tool(seg: ui.Segment, *, hide_images: bool) -> None:
    """A tool call of the live turn: its input, state, streamed output, then its result."""
    st.code(ui.tool_input_text(seg), language=None)
    if seg.status in (ui.TOOL_INPUT, ui.TOOL_RUNNING):
        label = "preparing" if seg.status == ui.TOOL_INPUT else "running"
        if seg.mid_stream:
            label += " (started while the model was still writing)"
        st.caption(f"`{seg.name}` {label}…")
    running = seg.status in (ui.TOOL_INPUT, ui.TOOL_RUNNING)
    if seg.progress is not None:
        done, total = seg.progress
        st.progress(min(1.0, done / total) if total else 0.0, text=f"{done}/{total}")
    if running and seg.activity is not None:  # e.g. "waiting for the screen to settle… 0.4 s"
        st.caption(f":material/hourglass_top: {ui.progress_text(seg.activity)}")
    if seg.result is not None:
        render_tool_result(seg.result, hide_images=hide_images)
    else:
        if seg.output:  # already safe and capped by the reducer
            st.code(seg.output, language=None)
        if seg.stderr:
            st.code(seg.stderr, language="text")
    if seg.status in ui.TOOL_STATUSES_DONE:
        took = f" in {seg.duration_s:.2f} s" if seg.duration_s is not None else ""
        st.caption(f"`{seg.name}` {seg.status}{took}")


def render_error(error: BaseException) -> None:
    body = safe_text(str(error))  # an API error's message is the server's text
    rate_limited = error.__class__.__name__ == "RateLimitError"
    if rate_limited:
        body = f"You have been rate limited.\n\n{body}"
    else:
        lines = safe_text("".join(traceback.format_exception(error)))
        body += f"\n\n**Traceback:**\n\n{fenced(lines)}"
    st.error(f"**{error.__class__.__name__}**\n\n{body}", icon=":material/error:")


def render_api_exchange(request: Any, response: Any, response_id: str) -> None:
    """One request/response pair in the HTTP log tab (duck-typed: no httpx import here)."""
    with st.expander(f"Request/Response ({response_id})"):
        newline = "\n\n"
        if request is not None:
            headers = newline.join(
                f"`{k}: {'<redacted>' if k.lower() in ('x-api-key', 'authorization') else v}`"
                for k, v in request.headers.items()
            )
            st.markdown(f"`{request.method} {request.url}`{newline}{headers}")
            try:
                st.json(json.loads(request.read().decode() or "null"))
            except (ValueError, AttributeError, RuntimeError):
                st.caption("(request body not available)")
        st.markdown("---")
        status = getattr(response, "status_code", None)
        if status is not None:
            st.markdown(f"`{status}`")
            text = _response_text(response)
            if text:
                st.code(safe_text(text[:4000]), language=None)
        else:
            st.write(response)


def _response_text(response: Any) -> str:
    try:
        return str(response.text)
    except Exception:  # a streamed response whose body was consumed by the SSE reader
        return "(streamed response: body consumed by the stream)"
