"""The streaming computer tool under a real X server (a private Xvfb), against a real Tk application,
with Debian's xdotool and scrot: settling catches the action's effect, the PNG is scrot's pixels."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dc_impl.tools.dc_screenshot import (
    ScreenProgress,
    StreamingComputerTool20241022,
    StreamingComputerTool20250124,
)
from dc_verify.checks.xdisplay import COLOURS

PIL = pytest.importorskip("PIL", reason="Pillow is not installed (pip install '.[screenshot]')")
from PIL import Image, ImageChops  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def decode(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")


async def click(events: list[ScreenProgress], at: tuple[int, int] = (600, 500)):
    # a new position each time: xdotool's ``mousemove --sync`` to where the pointer already is waits ~15 s
    tool = StreamingComputerTool20250124(on_progress=events.append)
    try:
        return await tool(action="left_click", coordinate=list(at))
    finally:
        tool.close()


@pytest.mark.parametrize("delay_ms", [150, 900])
async def test_click_returns_the_frame_with_the_effect_once_settled(delay_ms: int, xapp) -> None:
    app = xapp("--delay-ms", str(delay_ms))
    events: list[ScreenProgress] = []
    t0 = time.monotonic()
    result = await click(events)
    returned = time.monotonic()
    changes = app.changes()
    assert len(changes) == 1 and t0 < changes[0] < returned  # the effect happened during the call
    assert decode(result.base64_image).getpixel((100, 100)) == rgb(COLOURS[1])  # and the frame shows it
    phases = [e.phase for e in events]
    assert phases[0] == "action_done" and phases[-3:] == ["settled", "captured", "encoded"]
    settled = next(e for e in events if e.phase == "settled")
    assert settled.detail["reason"] == "settled" and settled.detail["first_change_ms"] is not None
    assert events[-1].detail["bytes"] == len(base64.b64decode(result.base64_image))


async def test_first_progress_event_arrives_right_after_the_action(xapp) -> None:
    xapp("--delay-ms", "400")
    seen: list[tuple[float, ScreenProgress]] = []
    tool = StreamingComputerTool20250124(on_progress=lambda e: seen.append((time.monotonic(), e)))
    try:
        await tool(action="left_click", coordinate=[10, 10])
    finally:
        tool.close()
    done = time.monotonic()
    first_at, first = seen[0]
    assert first.phase == "action_done"
    assert done - first_at >= 0.4  # it came before the 400 ms effect, long before the result


async def test_no_change_waits_for_upstreams_cap_and_a_busy_screen_is_cut_at_the_cap(xapp) -> None:
    xapp("--delay-ms", "100000")  # the click changes nothing within the cap
    events: list[ScreenProgress] = []
    await click(events)
    cap = next(e for e in events if e.phase == "cap_reached")
    assert cap.detail["reason"] == "unchanged" and cap.detail["waited_ms"] >= 1990
    busy = xapp("--busy")
    events.clear()
    t0 = time.monotonic()
    await click(events, (640, 480))
    assert time.monotonic() - t0 < 2.0 + 1.5
    cap = next(e for e in events if e.phase == "cap_reached")
    assert cap.detail["reason"] == "still_changing"
    busy.stop()


async def test_png_has_scrots_pixels_pointer_included(xapp, xenv: str, tmp_path: Path) -> None:
    xapp("--pattern")
    env = {**os.environ, "DISPLAY": xenv}
    subprocess.run(["xdotool", "mousemove", "300", "310"], env=env, check=True)
    tool = StreamingComputerTool20241022()
    try:
        ours_b64 = (await tool(action="screenshot")).base64_image
    finally:
        tool.close()
    subprocess.run(["scrot", "-p", "-o", str(tmp_path / "scrot.png")], env=env, check=True)
    ours, theirs = decode(ours_b64), Image.open(tmp_path / "scrot.png").convert("RGB")
    assert ours.size == theirs.size == (1024, 768)
    assert ImageChops.difference(ours, theirs).getbbox() is None
    # the pointer is in both: the pixels under it differ from the same screen grabbed without it
    size = len(base64.b64decode(ours_b64))
    assert size <= 1.5 * (tmp_path / "scrot.png").stat().st_size


async def test_scaled_screen_is_resized_to_the_api_size(xenv: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIDTH", "1280")  # the screen is 1024x768; upstream trusts WIDTH/HEIGHT and resizes
    monkeypatch.setenv("HEIGHT", "960")
    tool = StreamingComputerTool20250124()
    try:
        img = decode((await tool(action="screenshot")).base64_image)
    finally:
        tool.close()
    assert img.size == (1024, 768) == (tool.options["display_width_px"], tool.options["display_height_px"])


FALLBACK = textwrap.dedent("""
    import asyncio, base64, logging, sys
    sys.modules["mss"] = None  # the library is missing: import mss raises ImportError
    logging.basicConfig(level=logging.WARNING, format="LOG %(message)s")
    from dc_impl.tools.dc_screenshot import StreamingComputerTool20250124 as T
    async def main():
        t = T(on_progress=lambda e: print("EVENT", e.phase, e.detail.get("backend", "")))
        for _ in range(2):
            r = await t(action="screenshot")
            print("PNG", base64.b64decode(r.base64_image)[:8] == b"\\x89PNG\\r\\n\\x1a\\n")
    asyncio.run(main())
""")


def test_without_mss_falls_back_to_upstreams_programs_and_says_so_once(xenv: str) -> None:
    proc = subprocess.run([sys.executable, "-c", FALLBACK], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("PNG True") == 2 and "EVENT captured scrot" in proc.stdout
    logs = [line for line in proc.stderr.splitlines() if line.startswith("LOG")]
    assert len(logs) == 1 and "mss library is not installed" in logs[0], proc.stderr


async def test_cursor_position_and_type_work_on_the_real_display(xapp) -> None:
    xapp()
    tool = StreamingComputerTool20250124()
    try:
        await tool(action="mouse_move", coordinate=[123, 45])
        pos = await tool(action="cursor_position")
        typed = await tool(action="type", text="hello")
    finally:
        tool.close()
    assert pos.output == "X=123,Y=45" and pos.base64_image is None
    assert typed.base64_image and not typed.error


async def test_a_click_where_the_pointer_already_is_does_not_hang(xapp) -> None:
    """Upstream's ``mousemove --sync`` to the pointer's own position waits ~15 s for a motion event."""
    xapp("--delay-ms", "50")
    tool = StreamingComputerTool20250124()
    try:
        await tool(action="mouse_move", coordinate=[222, 333])
        t0 = time.monotonic()
        result = await tool(action="left_click", coordinate=[222, 333])
        took = time.monotonic() - t0
    finally:
        tool.close()
    assert result.base64_image and not result.error
    assert took < 2.0 + 3.0  # the cap plus slack, far below xdotool's ~15 s wait


def test_verification_checks_the_screenshot_tool(xdisplay) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "verify_streaming.py"), "--check", "screenshot", "--json"],
                          capture_output=True, text=True, timeout=180, cwd=ROOT)
    doc = __import__("json").loads(proc.stdout)
    assert proc.returncode == 0 and doc["passed"], doc
    assert {c["name"]: c["status"] for c in doc["checks"]} == {"screenshot_settle": "pass",
                                                                 "screenshot_capture": "pass"}
