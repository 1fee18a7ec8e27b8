"""The Claude DC Streamlit page: upstream's app, with the turn streamed live and a Stop button.

``dc_impl/streamlit_app.py`` (the file ops pass to ``streamlit run``) only bootstraps the import path
and calls ``main()`` here. Each script run draws the stored history; a turn runs in a ``TurnRunner``
thread, and while it runs the script run polls its ``LiveTurn`` every ``POLL_S`` and redraws only the
segments that changed (``live.py``). The loop's events reach the ``LiveTurn`` through a
``StreamingSession`` with a ``Coalescer`` (at most 10 updates a second), so a fast stream costs the
page a bounded number of redraws. A click (Stop, a new message, a sidebar change) interrupts the
polling script run, not the turn; the next run picks the turn up again. When the turn ends the page
reruns, which moves the turn into the stored history.

Which loop runs is decided per turn from the runtime toggles: ``use_unified_streaming`` on gives the
unified streaming loop with live rendering; off gives the host's original ``sampling_loop`` with
upstream's block-level rendering. ``use_streaming_thinking`` decides whether thinking text is shown
while it streams or once its block is complete.
"""

from __future__ import annotations

import importlib
import os
import time
from datetime import datetime
from types import ModuleType
from typing import Any

import streamlit as st

from ... import toggles
from . import live, render, settings
from . import turn as turn_mod
from .runner import CANCELLED, COMPLETED, TurnRunner

ENV_HOST_PACKAGE = "DC_UI_HOST_PACKAGE"
POLL_S = 0.1  # live view poll period (the Coalescer upstream already limits updates to 10/s)
STOP_WAIT_S = 10.0  # how long Stop waits for the loop to close the turn

STREAMLIT_STYLE = """
<style>
    button[kind=header] { background-color: rgb(255, 75, 75); border: 1px solid rgb(255, 75, 75);
                          color: rgb(255, 255, 255); }
    button[kind=header]:hover { background-color: rgb(255, 51, 51); }
    .stAppDeployButton { visibility: hidden; }
</style>
"""
WARNING_TEXT = (
    "⚠️ Security Alert: Never provide access to sensitive accounts or data, as malicious web content "
    "can hijack Claude's behavior"
)


IMPL_SUBPACKAGE = ".dc_impl.frontends.streamlit"


def host_package_name() -> str:
    """The ``computer_use_demo`` package this app serves: the package above ``dc_impl`` when deployed in it."""
    package = __package__ or ""
    if package.endswith(IMPL_SUBPACKAGE):  # <host>.dc_impl.frontends.streamlit
        return package[: -len(IMPL_SUBPACKAGE)]
    return os.environ.get(ENV_HOST_PACKAGE, "computer_use_demo")


def load_host() -> tuple[ModuleType, ModuleType]:
    """The host's ``loop`` and ``tools`` modules (original ``sampling_loop``, ``APIProvider``, ``ToolVersion``)."""
    name = host_package_name()
    return importlib.import_module(f"{name}.loop"), importlib.import_module(f"{name}.tools")


def main() -> None:
    try:
        host_loop, host_tools = load_host()
    except ImportError as exc:
        st.error(
            f"Cannot import the computer_use_demo tree ({exc}). Run this app as "
            f"`streamlit run <target>/dc_impl/streamlit_app.py`, or set {ENV_HOST_PACKAGE}."
        )
        return
    versions = turn_mod.tool_versions(host_tools)
    settings.setup_state(versions)
    st.markdown(STREAMLIT_STYLE, unsafe_allow_html=True)
    st.title("Claude Computer Use Demo")
    if not os.getenv("HIDE_WARNING", False):
        st.warning(WARNING_TEXT)

    toggle_state = toggles.current()
    streaming = toggle_state.enabled("use_unified_streaming")
    with st.sidebar:
        caption = (
            f"Streaming {'on' if streaming else 'off'} (toggle use_unified_streaming, "
            f"revision {toggle_state.revision})"
        )
        if toggle_state.error:
            caption += f" — toggles problem: {toggle_state.error}"
        if settings.render_sidebar(turn_mod.providers(host_loop), versions, caption):
            _reset(versions)

    if not st.session_state.auth_validated:
        if auth_error := settings.validate_auth(str(st.session_state.provider), st.session_state.api_key):
            st.warning(f"Please resolve the following auth issue:\n\n{auth_error}")
            return
        st.session_state.auth_validated = True

    chat, http_logs = st.tabs(["Chat", "HTTP Exchange Logs"])
    new_message = st.chat_input("Type a message to send to Claude to control the computer...")
    _commit_if_finished()

    with chat:
        render.render_history(
            st.session_state.messages, st.session_state.tools, st.session_state.dc_turn_notes,
            hide_images=st.session_state.hide_images, thinking_expander=True,
        )
        if st.session_state.dc_last_error is not None:
            render.render_error(st.session_state.dc_last_error)
            st.session_state.dc_last_error = None
        if new_message:
            _stop_turn()  # a message typed during a turn interrupts it, as in upstream
            _commit_if_finished()
            _append_user_message(new_message)
            render.render_message(render.USER, new_message, hide_images=False, thinking_expander=True)
            _start_turn(host_loop, streaming, toggle_state.enabled("use_streaming_thinking"))
        if _running() is not None:
            st.button("Stop", key="dc_stop", icon=":material/stop_circle:", on_click=_stop_turn, help="Cancel this turn; the history stays valid.")
            _follow_turn()

    with http_logs:
        for identity, (request, response) in list(st.session_state.responses.items()):
            render.render_api_exchange(request, response, identity)


def _running() -> TurnRunner | None:
    runner = st.session_state.get("dc_runner")
    return runner if isinstance(runner, TurnRunner) else None


def _append_user_message(text: str) -> None:
    messages: list[dict[str, Any]] = st.session_state.messages
    prefix = turn_mod.interruption_blocks(messages, st.session_state.tools, st.session_state.in_sampling_loop)
    turn_mod.add_user_text(messages, text, prefix)


def _start_turn(host_loop: ModuleType, streaming: bool, stream_thinking: bool) -> None:
    state = st.session_state
    params = turn_mod.TurnParams(
        model=str(state.model),
        provider=host_loop.APIProvider(state.provider),
        system_prompt_suffix=str(state.custom_system_prompt),
        api_key=str(state.api_key),
        only_n_most_recent_images=int(state.only_n_most_recent_images),
        max_tokens=int(state.output_tokens),
        tool_version=str(state.tool_versions),
        thinking_budget=int(state.thinking_budget) if state.thinking else None,
        token_efficient_tools_beta=bool(state.token_efficient_tools_beta),
    )
    job = turn_mod.TurnJob(
        params=params,
        messages=list(state.messages),
        streaming=streaming,
        stream_thinking=stream_thinking,
        original_loop=host_loop.sampling_loop,
    )
    state.dc_live = job
    state.dc_runner = TurnRunner(job.run).start()
    state.in_sampling_loop = True


def _stop_turn() -> None:
    runner = _running()
    if runner is None:
        return
    runner.cancel()
    runner.wait(STOP_WAIT_S)


def _commit_if_finished() -> None:
    """Move a finished turn into the stored history (the live view then disappears)."""
    runner = _running()
    job = st.session_state.get("dc_live")
    if runner is None or not runner.done or not isinstance(job, turn_mod.TurnJob):
        return
    state = st.session_state
    state.messages = job.messages if runner.outcome != COMPLETED else (runner.result or job.messages)
    state.tools.update(job.tools)
    for request, response in job.responses:
        state.responses[datetime.now().isoformat() + f"-{len(state.responses)}"] = (request, response)
    note = turn_mod.turn_note(job.live.snapshot(), runner)
    if note and state.messages:
        state.dc_turn_notes[len(state.messages) - 1] = note
    if runner.error is not None:
        state.dc_last_error = runner.error
    elif job.api_error is not None:
        state.dc_last_error = job.api_error
    # Interrupted or failed: the next message gets upstream's interruption note (and heals any gap).
    state.in_sampling_loop = runner.outcome in (CANCELLED,) or runner.error is not None
    state.dc_runner = None
    state.dc_live = None


def _follow_turn() -> None:
    """Draw the running turn until it ends, then rerun the page to move it into the history."""
    runner = _running()
    job = st.session_state.get("dc_live")
    if runner is None or not isinstance(job, turn_mod.TurnJob):
        return
    view, status = live.make_view(hide_images=st.session_state.hide_images, stream_thinking=job.stream_thinking)
    live.follow(
        job.live, view, status, lambda: runner.done,
        lambda snap: turn_mod.progress_caption(snap, runner, time.monotonic()), POLL_S,
    )
    st.rerun()


def _reset(versions: tuple[str, ...]) -> None:
    _stop_turn()
    with st.spinner("Resetting..."):
        st.session_state.clear()
        settings.setup_state(versions)
        settings.restart_display()
