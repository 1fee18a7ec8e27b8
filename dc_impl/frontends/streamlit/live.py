"""The turn in progress on the page: one st.empty() slot per segment, redrawn only when it changed.

The page script polls the ``LiveTurn`` while the turn runs (``follow``) and hands each snapshot to a
``LiveView``. Each segment owns an ``st.empty()`` slot created the first time it is seen, so a text
delta resends one markdown element, not the page; a thinking block's expander is created once and
only its body is replaced, so a user who collapses it while it streams keeps it collapsed. Segments
that disappear (partial text discarded by a retry) have their slot cleared; what streams again gets
a new slot after the retry notice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from .. import reducer as ui
from . import render


@dataclass
class _Slot:
    element: Any
    body: Any  # where the content goes (the expander's inner element for thinking)
    signature: tuple[Any, ...] = ()


def signature(seg: ui.Segment, *, stream_thinking: bool) -> tuple[Any, ...]:
    """What the drawing of ``seg`` depends on; equal signatures need no redraw."""
    if seg.kind == ui.TOOL:
        activity = seg.activity.t if seg.activity is not None else None  # each progress report redraws
        return (seg.status, seg.input_chars, seg.input is None, seg.output_chars, seg.stderr_chars, seg.progress,
                activity, seg.result is not None)  # counts of all output received: the shown text is capped
    if seg.kind == ui.THINKING and not stream_thinking and not seg.closed:
        return (seg.closed, len(seg.text) // 200)  # only the size hint changes while hidden
    return (seg.closed, len(seg.text))


class LiveView:
    """Draws successive ``LiveTurn`` snapshots into ``container`` (an ``st.chat_message``)."""

    def __init__(self, container: Any, *, hide_images: bool, stream_thinking: bool) -> None:
        self.container = container
        self.hide_images = hide_images
        self.stream_thinking = stream_thinking
        self.slots: dict[tuple[Any, ...], _Slot] = {}
        self.waiting = container.empty()
        self.waiting.caption("Waiting for the model…")
        self.redraws = 0

    def update(self, turn: ui.LiveTurn) -> None:
        present = {seg.key for seg in turn.segments}
        for key in [k for k in self.slots if k not in present]:
            self.slots.pop(key).element.empty()
        if turn.segments and self.waiting is not None:
            self.waiting.empty()
            self.waiting = None
        for seg in turn.segments:
            slot = self.slots.get(seg.key) or self._new_slot(seg)
            sig = signature(seg, stream_thinking=self.stream_thinking)
            if sig != slot.signature:
                self._draw(slot, seg)
                slot.signature = sig
                self.redraws += 1

    def _new_slot(self, seg: ui.Segment) -> _Slot:
        element = self.container.empty()
        body = element
        if seg.kind == ui.THINKING:
            expander = element.container().expander("Thinking", expanded=True)
            body = expander.empty()
        slot = _Slot(element, body)
        self.slots[seg.key] = slot
        return slot

    def _draw(self, slot: _Slot, seg: ui.Segment) -> None:
        if seg.kind == ui.TEXT:
            slot.body.markdown(seg.text)
        elif seg.kind == ui.THINKING:
            if self.stream_thinking or seg.closed:
                slot.body.markdown(seg.text)
            else:
                slot.body.caption(f"Thinking… ({len(seg.text)} characters; shown when the block is complete)")
        elif seg.kind == ui.NOTICE:
            slot.body.info(seg.text, icon=":material/replay:")
        elif seg.kind == ui.TOOL:
            with slot.body.container():
                render.render_live_tool(seg, hide_images=self.hide_images)


def follow(
    turn: ui.LiveTurn,
    view: LiveView,
    status: Any,
    is_done: Callable[[], bool],
    caption: Callable[[ui.LiveTurn], str],
    poll_s: float,
) -> None:
    """Redraw until ``is_done()``; the status caption is rewritten each poll.

    Every status write is also where Streamlit can interrupt this script run (a click on Stop, a new
    message): the turn itself runs in its own thread and does not notice.
    """
    version = -1
    while True:
        done = is_done()  # read before the snapshot, so the last events are drawn
        snap = turn.snapshot()
        if snap.version != version:
            view.update(snap)
            version = snap.version
        status.caption(caption(snap))
        if done:
            return
        time.sleep(poll_s)


def make_view(*, hide_images: bool, stream_thinking: bool) -> tuple[LiveView, Any]:
    """A chat message for the live turn plus a status line under it."""
    box = st.chat_message(render.BOT)
    return LiveView(box, hide_images=hide_images, stream_thinking=stream_thinking), st.empty()
