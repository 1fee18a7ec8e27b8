"""Streamlit rendering for the Claude DC page: history (as upstream shows it) and the live turn.

History rendering follows upstream's ``_render_message``: one chat message per block, tool results
from ``st.session_state.tools`` (the API's ``tool_result`` is not enough to render), thinking in a
collapsed expander. The live turn is drawn by ``_ui_live``, which uses ``render_live_tool`` here.
"""

from __future__ import annotations

import base64
import json
import traceback
from typing import Any

import streamlit as st

from . import _ui_state as ui
from ._compat import ToolResult

USER, BOT, TOOL = "user", "assistant", "tool"


def render_tool_result(result: Any, *, hide_images: bool) -> None:
    """A finished tool's ``ToolResult`` (host's or ours: told apart by shape, as upstream does)."""
    output = getattr(result, "output", None)
    error = getattr(result, "error", None)
    image = getattr(result, "base64_image", None)
    if output:
        if result.__class__.__name__ == "CLIResult":
            st.code(output)
        else:
            st.markdown(output)
    if error:
        st.error(error)
    if image and not hide_images:
        st.image(base64.b64decode(image))


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
                st.write(message.get("text", ""))
            elif kind == "thinking":
                if thinking_expander:
                    with st.expander("Thinking", expanded=False):
                        st.markdown(message.get("thinking", ""))
                else:
                    st.markdown(f"[Thinking]\n\n{message.get('thinking', '')}")
            elif kind == "redacted_thinking":
                st.caption("[Thinking redacted by the API]")
            elif kind == "tool_use":
                st.code(f"Tool Use: {message.get('name')}\nInput: {message.get('input')}")
            elif kind != "tool_result":
                st.caption(f"[{kind} block]")
        else:
            st.markdown(message)


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
    st.code(ui.tool_input_text(seg))
    if seg.status in (ui.TOOL_INPUT, ui.TOOL_RUNNING):
        label = "preparing" if seg.status == ui.TOOL_INPUT else "running"
        if seg.mid_stream:
            label += " (started while the model was still writing)"
        st.caption(f"`{seg.name}` {label}…")
    if seg.progress is not None:
        done, total = seg.progress
        st.progress(min(1.0, done / total) if total else 0.0, text=f"{done}/{total}")
    if seg.result is not None:
        render_tool_result(seg.result, hide_images=hide_images)
    else:
        if seg.output:
            st.code(seg.output)
        if seg.stderr:
            st.code(seg.stderr, language="text")
    if seg.status in ui.TOOL_STATUSES_DONE:
        took = f" in {seg.duration_s:.2f} s" if seg.duration_s is not None else ""
        st.caption(f"`{seg.name}` {seg.status}{took}")


def render_error(error: BaseException) -> None:
    body = str(error)
    rate_limited = error.__class__.__name__ == "RateLimitError"
    if rate_limited:
        body = f"You have been rate limited.\n\n{body}"
    else:
        lines = "".join(traceback.format_exception(error))
        body += f"\n\n**Traceback:**\n\n```\n{lines}\n```"
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
                st.code(text[:4000])
        else:
            st.write(response)


def _response_text(response: Any) -> str:
    try:
        return str(response.text)
    except Exception:  # a streamed response whose body was consumed by the SSE reader
        return "(streamed response: body consumed by the stream)"
