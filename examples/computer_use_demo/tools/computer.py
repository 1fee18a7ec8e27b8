"""Upstream's computer tool (xdotool + screenshot utilities), kept small.

As upstream, construction needs the display size from the environment: without ``WIDTH`` and
``HEIGHT`` it fails with upstream's bare ``AssertionError: WIDTH, HEIGHT must be set`` (the agent's
container sets them, 1024x768 by default). Unlike upstream, every action first checks that an X
display is reachable and answers with a clear ``ToolError`` when it is not.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shlex
import shutil
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, get_args
from uuid import uuid4

from .base import BaseAnthropicTool, CLIResult, ToolError, ToolResult
from .run import run

OUTPUT_DIR = str(Path(tempfile.gettempdir()) / "outputs")
X11_SOCKET_DIR = str(Path(tempfile.gettempdir()) / ".X11-unix")
TYPING_DELAY_MS = 12
TYPING_GROUP_SIZE = 50

Action_20241022 = Literal[
    "key", "type", "mouse_move", "left_click", "left_click_drag", "right_click",
    "middle_click", "double_click", "screenshot", "cursor_position",
]  # fmt: skip
Action_20250124 = Literal[
    Action_20241022, "left_mouse_down", "left_mouse_up", "scroll", "hold_key", "wait", "triple_click"
]
ScrollDirection = Literal["up", "down", "left", "right"]

MAX_SCALING_TARGETS: dict[str, tuple[int, int]] = {
    "XGA": (1024, 768),  # 4:3
    "WXGA": (1280, 800),  # 16:10
    "FWXGA": (1366, 768),  # ~16:9
}
CLICK_BUTTONS = {
    "left_click": "1",
    "right_click": "3",
    "middle_click": "2",
    "double_click": "--repeat 2 --delay 10 1",
    "triple_click": "--repeat 3 --delay 10 1",
}
SCROLL_BUTTONS = {"up": 4, "down": 5, "left": 6, "right": 7}


class ScalingSource(StrEnum):
    COMPUTER = "computer"
    API = "api"


class BaseComputerTool:
    """Shared mechanics of the computer tool versions."""

    name: Literal["computer"] = "computer"
    api_type: str = "computer_20241022"
    _screenshot_delay = 2.0
    _scaling_enabled = True

    def __init__(self) -> None:
        super().__init__()
        self.width = int(os.getenv("WIDTH") or 0)
        self.height = int(os.getenv("HEIGHT") or 0)
        assert self.width and self.height, "WIDTH, HEIGHT must be set"
        display_num = os.environ.get("DISPLAY_NUM")
        if display_num is not None and display_num.strip().isdigit():
            self.display_num: int | None = int(display_num)
            self._display_prefix = f"DISPLAY=:{self.display_num} "
        else:
            self.display_num = None
            self._display_prefix = ""
        self.xdotool = f"{self._display_prefix}xdotool"

    @property
    def options(self) -> dict[str, Any]:
        width, height = self.scale_coordinates(ScalingSource.COMPUTER, self.width, self.height)
        return {"display_width_px": width, "display_height_px": height, "display_number": self.display_num}

    def to_params(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.api_type, **self.options}

    def display_problem(self) -> str | None:
        """Why no X display can be used right now, or None when one looks reachable."""
        display = f":{self.display_num}" if self.display_num is not None else os.environ.get("DISPLAY")
        if not display:
            return "no X display available (DISPLAY is not set): the computer tool needs a running X server"
        host, _, number = display.rpartition(":")
        number = number.split(".")[0]
        if host in ("", "unix") and number.isdigit() and not (Path(X11_SOCKET_DIR) / f"X{number}").exists():
            return f"no X display available (no X server listening on {display}): the computer tool needs a running X server"
        if shutil.which("xdotool") is None:
            return "xdotool is not installed: the computer tool needs xdotool and a running X server"
        return None

    def _require_display(self) -> None:
        problem = self.display_problem()
        if problem:
            raise ToolError(problem)

    async def __call__(
        self, *, action: str, text: str | None = None, coordinate: list[int] | None = None, **kwargs: Any
    ) -> ToolResult:
        self._require_display()
        return await self._base_action(action, text, coordinate)

    async def _base_action(self, action: str, text: str | None, coordinate: list[int] | None) -> ToolResult:
        if action in ("mouse_move", "left_click_drag"):
            if coordinate is None:
                raise ToolError(f"coordinate is required for {action}")
            if text is not None:
                raise ToolError(f"text is not accepted for {action}")
            x, y = self.validate_and_get_coordinates(coordinate)
            if action == "mouse_move":
                return await self.shell(f"{self.xdotool} mousemove --sync {x} {y}")
            return await self.shell(f"{self.xdotool} mousedown 1 mousemove --sync {x} {y} mouseup 1")

        if action in ("key", "type"):
            if text is None:
                raise ToolError(f"text is required for {action}")
            if coordinate is not None:
                raise ToolError(f"coordinate is not accepted for {action}")
            if not isinstance(text, str):
                raise ToolError(f"{text} must be a string")
            if action == "key":
                return await self.shell(f"{self.xdotool} key -- {text}")
            results: list[ToolResult] = []
            for start in range(0, len(text), TYPING_GROUP_SIZE):
                chunk = shlex.quote(text[start : start + TYPING_GROUP_SIZE])
                cmd = f"{self.xdotool} type --delay {TYPING_DELAY_MS} -- {chunk}"
                results.append(await self.shell(cmd, take_screenshot=False))
            return ToolResult(
                output="".join(r.output or "" for r in results),
                error="".join(r.error or "" for r in results),
                base64_image=(await self.screenshot()).base64_image,
            )

        if action in (
            "left_click",
            "right_click",
            "double_click",
            "middle_click",
            "screenshot",
            "cursor_position",
        ):
            if text is not None:
                raise ToolError(f"text is not accepted for {action}")
            if coordinate is not None:
                raise ToolError(f"coordinate is not accepted for {action}")
            if action == "screenshot":
                return await self.screenshot()
            if action == "cursor_position":
                result = await self.shell(f"{self.xdotool} getmouselocation --shell", take_screenshot=False)
                out = result.output or ""
                x, y = self.scale_coordinates(
                    ScalingSource.COMPUTER,
                    int(out.split("X=")[1].split("\n")[0]),
                    int(out.split("Y=")[1].split("\n")[0]),
                )
                return result.replace(output=f"X={x},Y={y}")
            return await self.shell(f"{self.xdotool} click {CLICK_BUTTONS[action]}")

        raise ToolError(f"Invalid action: {action}")

    def validate_and_get_coordinates(self, coordinate: Any) -> tuple[int, int]:
        if not isinstance(coordinate, list) or len(coordinate) != 2:
            raise ToolError(f"{coordinate} must be a tuple of length 2")
        if not all(isinstance(i, int) and i >= 0 for i in coordinate):
            raise ToolError(f"{coordinate} must be a tuple of non-negative ints")
        return self.scale_coordinates(ScalingSource.API, coordinate[0], coordinate[1])

    async def screenshot(self) -> ToolResult:
        """Take a screenshot of the current screen and return the base64 encoded image."""
        output_dir = Path(OUTPUT_DIR)
        output_dir.mkdir(parents=True, exist_ok=True)
        path = output_dir / f"screenshot_{uuid4().hex}.png"
        if shutil.which("gnome-screenshot"):
            cmd = f"{self._display_prefix}gnome-screenshot -f {path} -p"
        else:
            cmd = f"{self._display_prefix}scrot -p {path}"
        result = await self.shell(cmd, take_screenshot=False)
        if self._scaling_enabled:
            x, y = self.scale_coordinates(ScalingSource.COMPUTER, self.width, self.height)
            if (x, y) != (self.width, self.height):
                await self.shell(f"convert {path} -resize {x}x{y}! {path}", take_screenshot=False)
        if path.exists():
            return result.replace(base64_image=base64.b64encode(path.read_bytes()).decode())
        raise ToolError(f"Failed to take screenshot: {result.error}")

    async def shell(self, command: str, take_screenshot: bool = True) -> CLIResult:
        """Run a shell command and return the output, error, and optionally a screenshot."""
        _, stdout, stderr = await run(command)
        base64_image = None
        if take_screenshot:
            # delay to let things settle before taking a screenshot
            await asyncio.sleep(self._screenshot_delay)
            base64_image = (await self.screenshot()).base64_image
        return CLIResult(output=stdout, error=stderr, base64_image=base64_image)

    def scale_coordinates(self, source: ScalingSource, x: int, y: int) -> tuple[int, int]:
        """Scale between the API's (smaller) resolution and the real screen."""
        if not self._scaling_enabled or not self.height:
            return x, y
        ratio = self.width / self.height
        target: tuple[int, int] | None = None
        for width, height in MAX_SCALING_TARGETS.values():
            if abs(width / height - ratio) < 0.02:
                if width < self.width:
                    target = (width, height)
                break
        if target is None:
            return x, y
        x_factor, y_factor = target[0] / self.width, target[1] / self.height
        if source == ScalingSource.API:
            if x > self.width or y > self.height:
                raise ToolError(f"Coordinates {x}, {y} are out of bounds")
            return round(x / x_factor), round(y / y_factor)
        return round(x * x_factor), round(y * y_factor)


class ComputerTool20241022(BaseComputerTool, BaseAnthropicTool):
    """``computer_20241022``: the original action set."""

    api_type: str = "computer_20241022"


class ComputerTool20250124(BaseComputerTool, BaseAnthropicTool):
    """``computer_20250124``: adds mouse down/up, scroll, hold_key, wait, triple_click, modifier keys."""

    api_type: str = "computer_20250124"

    async def __call__(  # type: ignore[override]
        self,
        *,
        action: str,
        text: str | None = None,
        coordinate: list[int] | None = None,
        scroll_direction: str | None = None,
        scroll_amount: int | None = None,
        duration: float | None = None,
        key: str | None = None,
        **kwargs: Any,
    ) -> ToolResult:
        self._require_display()
        if action in ("left_mouse_down", "left_mouse_up"):
            if coordinate is not None:
                raise ToolError(f"coordinate is not accepted for {action=}.")
            verb = "mousedown" if action == "left_mouse_down" else "mouseup"
            return await self.shell(f"{self.xdotool} {verb} 1")
        if action == "scroll":
            if scroll_direction is None or scroll_direction not in get_args(ScrollDirection):
                raise ToolError(f"{scroll_direction=} must be 'up', 'down', 'left', or 'right'")
            if not isinstance(scroll_amount, int) or scroll_amount < 0:
                raise ToolError(f"{scroll_amount=} must be a non-negative int")
            parts = [self.xdotool, self._move_part(coordinate)]
            if text:
                parts.append(f"keydown {text}")
            parts.append(f"click --repeat {scroll_amount} {SCROLL_BUTTONS[scroll_direction]}")
            if text:
                parts.append(f"keyup {text}")
            return await self.shell(" ".join(parts))
        if action in ("hold_key", "wait"):
            if duration is None or not isinstance(duration, int | float):
                raise ToolError(f"{duration=} must be a number")
            if duration < 0:
                raise ToolError(f"{duration=} must be non-negative")
            if duration > 100:
                raise ToolError(f"{duration=} is too long.")
            if action == "wait":
                await asyncio.sleep(duration)
                return await self.screenshot()
            if text is None:
                raise ToolError(f"text is required for {action}")
            keys = shlex.quote(text)
            return await self.shell(f"{self.xdotool} keydown {keys} sleep {duration} keyup {keys}")
        if action in ("left_click", "right_click", "double_click", "triple_click", "middle_click"):
            if text is not None:
                raise ToolError(f"text is not accepted for {action}")
            parts = [self.xdotool, self._move_part(coordinate)]
            if key:
                parts.append(f"keydown {key}")
            parts.append(f"click {CLICK_BUTTONS[action]}")
            if key:
                parts.append(f"keyup {key}")
            return await self.shell(" ".join(parts))
        return await self._base_action(action, text, coordinate)

    def _move_part(self, coordinate: list[int] | None) -> str:
        if coordinate is None:
            return ""
        x, y = self.validate_and_get_coordinates(coordinate)
        return f"mousemove --sync {x} {y}"
