"""Checks of the deployed streaming screenshot (computer) tool, under a private Xvfb with a real Tk app.

- ``screenshot_settle``: a click whose effect shows 300 ms later comes back with a frame that shows
  it, after ``action_done`` and ``settled`` progress events, well before upstream's fixed 2.0 s delay;
- ``screenshot_capture``: a screenshot is a PNG of the API's size, captured in process (``mss``), not
  through a screenshot program (a fallback is a failure: the host lacks mss/Pillow).

Both skip, with the reason, where no private X display can be started (Xvfb, xdotool or tkinter
missing on the verifying host).
"""

from __future__ import annotations

import base64
import os
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .child_env import CheckFailed, CheckSkipped, ChildEnv

EFFECT_MS = 300


@contextmanager
def _display() -> Iterator[Any]:
    from .xdisplay import PrivateX, missing_parts

    reason = missing_parts()
    if reason:
        raise CheckSkipped(f"no private X display: {reason}")
    try:
        x = PrivateX().__enter__()
    except (OSError, RuntimeError) as exc:
        raise CheckSkipped(f"no private X display: Xvfb did not start ({exc})") from exc
    saved = {k: os.environ.get(k) for k in x.env()}
    os.environ.update(x.env())
    try:
        yield x
    finally:
        x.__exit__()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _png_size(png: bytes) -> tuple[int, int]:
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise CheckFailed("the screenshot is not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


async def check_screenshot_settle(env: ChildEnv) -> str:
    from .xdisplay import COLOURS

    mod = env.impl("tools.dc_screenshot")
    with _display() as x:
        app = x.app("--delay-ms", str(EFFECT_MS))
        events: list[Any] = []
        tool = mod.StreamingComputerTool20250124(on_progress=events.append)
        try:
            t0 = time.monotonic()
            result = await tool(action="left_click", coordinate=[512, 384])
            took = time.monotonic() - t0
        finally:
            tool.close()
        changes = app.changes()
    png = base64.b64decode(result.base64_image or "")
    phases = [e.phase for e in events]
    if not changes:
        raise CheckFailed("the test application never saw the click")
    if not phases or phases[0] != "action_done" or "settled" not in phases:
        raise CheckFailed(f"progress events {phases} (expected action_done first, then settled)")
    import io

    from PIL import Image  # the tool needs Pillow too; here only to read one pixel

    pixel = Image.open(io.BytesIO(png)).convert("RGB").getpixel((20, 20))
    expected = tuple(int(COLOURS[1][i:i + 2], 16) for i in (1, 3, 5))
    if pixel != expected:
        raise CheckFailed(f"the returned frame predates the click's effect (pixel {pixel}, expected {expected})")
    if took >= 2.0:
        raise CheckFailed(f"the click took {took:.2f} s: no faster than upstream's fixed 2.0 s delay")
    return f"effect after {EFFECT_MS} ms captured; result in {took:.2f} s; {len(events)} progress events"


async def check_screenshot_capture(env: ChildEnv) -> str:
    mod = env.impl("tools.dc_screenshot")
    with _display() as x:
        x.app("--pattern")
        events: list[Any] = []
        tool = mod.StreamingComputerTool20250124(on_progress=events.append)
        try:
            result = await tool(action="screenshot")
        finally:
            tool.close()
    size = _png_size(base64.b64decode(result.base64_image or ""))
    want = (tool.options["display_width_px"], tool.options["display_height_px"])
    if size != want:
        raise CheckFailed(f"the PNG is {size[0]}x{size[1]}, the API size is {want[0]}x{want[1]}")
    captured = next((e for e in events if e.phase == "captured"), None)
    backend = captured.detail.get("backend") if captured is not None else None
    if backend != "mss":
        raise CheckFailed(f"captured with {backend!r}, not in process: install mss and Pillow in the agent's "
                          "interpreter (pip install mss Pillow)")
    encoded = next((e for e in events if e.phase == "encoded"), None)
    return f"{size[0]}x{size[1]} PNG, {encoded.detail.get('bytes') if encoded else '?'} bytes, in process"


CHECKS = {"screenshot_settle": check_screenshot_settle, "screenshot_capture": check_screenshot_capture}
