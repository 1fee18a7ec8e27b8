"""Streaming drop-in for computer-use-demo's computer tool (``computer_20241022`` / ``computer_20250124``).

Model-facing contract: the same ``name`` (``computer``), ``api_type``, ``to_params()``, ``options``,
actions, errors, ``WIDTH``/``HEIGHT``/``DISPLAY_NUM`` environment and coordinate scaling (XGA, WXGA,
FWXGA targets) as upstream's ``ComputerTool20241022`` / ``ComputerTool20250124``. What differs:

* No fixed 2.0 s sleep after an action. The tool grabs a frame before the action and polls the
  screen after it (pointer excluded) until it changed and then stayed quiet for
  ``DC_SCREENSHOT_SETTLE_MS`` (default 300 ms), or until upstream's 2.0 s passed with no change or
  with a screen that never stops changing (``screenshot.settle``). A click whose effect shows after
  150 ms returns in about half a second instead of 2.2 s; an effect after 900 ms is still captured.
* Capture in process (``mss`` over XShm, Pillow for scaling and PNG level-1 encoding) instead of a
  screenshot program, a temp file and ImageMagick; scaling only when the target size differs from
  the screen. The pointer is included, as with ``scrot -p``. Without ``mss``/Pillow the tool uses
  upstream's programs and fixed delay, and logs that once.
* ``on_progress`` (constructor argument or attribute; a sync or async callable) receives
  ``ScreenProgress`` events while an action runs: ``action_done`` right after the xdotool command,
  ``frames_compared`` during the wait, ``settled`` or ``cap_reached``, ``captured`` and ``encoded``
  (with elapsed ms and bytes).
* ``WIDTH``/``HEIGHT`` unset: 1024x768 instead of upstream's bare ``AssertionError`` at construction.
* No reachable X display: one ``ToolError`` saying so, not a traceback.
* A move to where the pointer already is does not hang: upstream's ``mousemove --sync X Y`` waits
  about 15 s for a motion event that never comes; we drop ``--sync`` in exactly that case.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import os
import re
import shutil
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from .._compat import BaseAnthropicTool, ToolError, ToolResult
from ..metrics_hook import records_calls, screenshot_phase
from .screenshot.actions import ActionPlan, ScalingSource, Screen, plan_action
from .screenshot.capture import CaptureError, InProcessCapture, ProgramCapture, Shot, make_capture
from .screenshot.run import run_command
from .screenshot.settle import SettleConfig, wait_until_settled

__all__ = ["ScreenProgress", "StreamingComputerTool20241022", "StreamingComputerTool20250124"]

_SYNC_MOVE = re.compile(r"mousemove --sync (\d+) (\d+)")
DEFAULT_WIDTH = 1024
DEFAULT_HEIGHT = 768
X11_SOCKET_DIR = "/tmp/.X11-unix"  # noqa: S108 - the X server's fixed socket directory


@dataclass(frozen=True)
class ScreenProgress:
    """One step of a running computer action, for live display."""

    action: str
    phase: str          # action_done | frames_compared | settled | cap_reached | captured | encoded
    elapsed_ms: float   # since the call started
    detail: dict[str, Any] = field(default_factory=dict)


ProgressCallback = Callable[[ScreenProgress], Any]


def _env_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if value > 0 else default


class _StreamingComputerTool(BaseAnthropicTool):
    name: ClassVar[Literal["computer"]] = "computer"
    api_type: ClassVar[str] = "computer_20250124"
    _version: ClassVar[str] = "20250124"
    _screenshot_delay = 2.0  # upstream's fixed delay: our settle cap
    _scaling_enabled = True

    def __init__(self, on_progress: ProgressCallback | None = None) -> None:
        super().__init__()
        self.on_progress = on_progress
        self.width = _env_int("WIDTH", DEFAULT_WIDTH)
        self.height = _env_int("HEIGHT", DEFAULT_HEIGHT)
        display_num = os.environ.get("DISPLAY_NUM")
        if display_num is not None and display_num.strip().isdigit():
            self.display_num: int | None = int(display_num)
            self._display_prefix = f"DISPLAY=:{self.display_num} "
        else:
            self.display_num = None
            self._display_prefix = ""
        self.xdotool = f"{self._display_prefix}xdotool"
        self._capture: InProcessCapture | ProgramCapture | None = None
        self._finalizer: weakref.finalize | None = None

    # ---- upstream's public surface -----------------------------------------------------------
    @property
    def screen(self) -> Screen:
        return Screen(self.width, self.height, self._scaling_enabled)

    @property
    def options(self) -> dict[str, Any]:
        width, height = self.screen.api_size()
        return {"display_width_px": width, "display_height_px": height, "display_number": self.display_num}

    def to_params(self) -> Any:
        return {"name": self.name, "type": self.api_type, **self.options}

    def scale_coordinates(self, source: ScalingSource, x: int, y: int) -> tuple[int, int]:
        return self.screen.scale(source, x, y)

    @records_calls
    async def __call__(self, *, action: Any = None, text: Any = None, coordinate: Any = None,
                       scroll_direction: Any = None, scroll_amount: Any = None, duration: Any = None,
                       key: Any = None, **kwargs: Any) -> ToolResult:
        plan = plan_action(self._version, self.screen, self.xdotool, action=action, text=text,
                           coordinate=coordinate, scroll_direction=scroll_direction,
                           scroll_amount=scroll_amount, duration=duration, key=key)
        problem = self.display_problem()
        if problem:
            raise ToolError(problem)
        try:
            return await self._run(plan)
        except CaptureError as exc:
            raise ToolError(str(exc)) from exc

    async def screenshot(self) -> ToolResult:
        """Take a screenshot of the current screen and return the base64 encoded image."""
        return await self(action="screenshot")

    # ---- display -----------------------------------------------------------------------------
    @property
    def display(self) -> str | None:
        return f":{self.display_num}" if self.display_num is not None else os.environ.get("DISPLAY")

    def display_problem(self) -> str | None:
        """Why no X display can be used right now, or None when one looks reachable."""
        display = self.display
        if not display:
            return "no X display available (DISPLAY is not set): the computer tool needs a running X server"
        host, _, number = display.rpartition(":")
        number = number.split(".")[0]
        if host in ("", "unix") and number.isdigit() and not (Path(X11_SOCKET_DIR) / f"X{number}").exists():
            return f"no X display available (no X server listening on {display}): the computer tool needs a running X server"
        if shutil.which("xdotool") is None:
            return "xdotool is not installed: the computer tool needs xdotool and a running X server"
        return None

    def _backend(self) -> InProcessCapture | ProgramCapture:
        if self._capture is None:
            self._capture = make_capture(self.display or "", self._display_prefix)
            self._finalizer = weakref.finalize(self, self._capture.close)
        return self._capture

    def close(self) -> None:
        """Release the X connections and the capture thread (also done at garbage collection)."""
        if self._finalizer is not None:
            self._finalizer()
        self._capture = None

    # ---- one action ----------------------------------------------------------------------------
    async def _emit(self, action: str, phase: str, t0: float, **detail: Any) -> None:
        callback = self.on_progress
        if callback is None:
            return
        result = callback(ScreenProgress(action, phase, round((time.monotonic() - t0) * 1000, 1), detail))
        if inspect.isawaitable(result):
            await result

    async def _run(self, plan: ActionPlan) -> ToolResult:
        t0 = time.monotonic()
        capture = self._backend()
        before: bytes | None = None
        if plan.follow == "settle" and isinstance(capture, InProcessCapture):
            before = await capture.grab_frame()
        outputs: list[str] = []
        errors: list[str] = []
        for command in plan.commands:
            _rc, out, err = await run_command(await self._unsynced_if_there(command))
            outputs.append(out)
            errors.append(err)
        output, error = "".join(outputs), "".join(errors)
        if plan.commands:
            await self._emit(plan.action, "action_done", t0)
        if plan.follow == "none":
            return ToolResult(output=output, error=error)
        if plan.follow == "cursor":
            x, y = self.scale_coordinates(ScalingSource.COMPUTER, int(output.split("X=")[1].split("\n")[0]),
                                          int(output.split("Y=")[1].split("\n")[0]))
            return ToolResult(output=f"X={x},Y={y}", error=error)
        if plan.wait_s:
            await asyncio.sleep(plan.wait_s)
        if plan.follow == "settle":
            await self._settle(plan.action, capture, before, t0)
        shot = await self._shoot(plan.action, capture, t0)
        return ToolResult(output=output, error=error, base64_image=base64.b64encode(shot.png).decode())

    async def _unsynced_if_there(self, command: str) -> str:
        """Upstream's ``mousemove --sync X Y`` waits for a motion event that never comes when the pointer
        is already at X,Y (xdotool gives up after about 15 s); drop ``--sync`` in exactly that case."""
        match = _SYNC_MOVE.search(command)
        if match is None:
            return command
        _rc, out, _err = await run_command(f"{self.xdotool} getmouselocation --shell")
        here = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        if (here.get("X"), here.get("Y")) == (match.group(1), match.group(2)):
            return command[:match.start()] + f"mousemove {match.group(1)} {match.group(2)}" + command[match.end():]
        return command

    async def _settle(self, action: str, capture: InProcessCapture | ProgramCapture, before: bytes | None,
                      t0: float) -> None:
        if not isinstance(capture, InProcessCapture) or before is None:
            await asyncio.sleep(self._screenshot_delay)  # upstream's way when frames cannot be compared
            screenshot_phase("settle", self._screenshot_delay)
            await self._emit(action, "cap_reached", t0, reason="fixed_delay", waited_ms=self._screenshot_delay * 1000)
            return
        config = SettleConfig.from_env(default_cap_s=self._screenshot_delay)

        async def progress(phase: str, detail: dict[str, object]) -> None:
            await self._emit(action, phase, t0, **detail)

        outcome = await wait_until_settled(capture.grab_frame, before, clock=time.monotonic, sleep=asyncio.sleep,
                                           config=config, start=time.monotonic(), progress=progress)
        screenshot_phase("settle", outcome.elapsed_s)
        phase = "settled" if outcome.outcome == "settled" else "cap_reached"
        await self._emit(action, phase, t0, reason=outcome.outcome, frames=outcome.frames,
                         waited_ms=round(outcome.elapsed_s * 1000, 1),
                         first_change_ms=None if outcome.first_change_s is None
                         else round(outcome.first_change_s * 1000, 1))

    async def _shoot(self, action: str, capture: InProcessCapture | ProgramCapture, t0: float) -> Shot:
        api_w, api_h = self.screen.api_size()
        if isinstance(capture, InProcessCapture):
            shot = await capture.screenshot((api_w, api_h))
        else:
            shot = await capture.screenshot((api_w, api_h), (self.width, self.height))
        screenshot_phase("capture", shot.capture_ms / 1000)
        screenshot_phase("encode", shot.encode_ms / 1000)
        await self._emit(action, "captured", t0, width=shot.width, height=shot.height, backend=shot.backend,
                         capture_ms=round(shot.capture_ms, 1), scale_ms=round(shot.scale_ms, 1))
        await self._emit(action, "encoded", t0, bytes=len(shot.png), encode_ms=round(shot.encode_ms, 1))
        return shot


class StreamingComputerTool20241022(_StreamingComputerTool):
    """``computer_20241022``: the original action set."""

    api_type: ClassVar[str] = "computer_20241022"
    _version: ClassVar[str] = "20241022"


class StreamingComputerTool20250124(_StreamingComputerTool):
    """``computer_20250124``: adds mouse down/up, scroll, hold_key, wait, triple_click, modifier keys."""

    api_type: ClassVar[str] = "computer_20250124"
    _version: ClassVar[str] = "20250124"
