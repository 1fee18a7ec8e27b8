"""The computer tool's actions: validation, messages and xdotool commands exactly as upstream's
``computer_use_demo/tools/computer.py`` (``computer_20241022`` and ``computer_20250124``).

``plan_action`` turns the model's input into an ``ActionPlan``: a command to run (or none), and what
follows it (a screenshot after settling, an immediate one, a cursor read). It raises ``ToolError``
with upstream's words for bad input. Coordinates are scaled from the API's size to the screen's.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, get_args

from ..._compat import ToolError

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
NEW_IN_20250124 = ("left_mouse_down", "left_mouse_up", "scroll", "hold_key", "wait", "triple_click")

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


@dataclass(frozen=True)
class Screen:
    width: int
    height: int
    scaling: bool = True

    def scale(self, source: ScalingSource, x: int, y: int) -> tuple[int, int]:
        """Upstream's scaling between the API's (smaller) XGA/WXGA/FWXGA size and the screen."""
        if not self.scaling or not self.height:
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

    def api_size(self) -> tuple[int, int]:
        return self.scale(ScalingSource.COMPUTER, self.width, self.height)


@dataclass(frozen=True)
class ActionPlan:
    """``commands`` run in order; then ``follow``: "settle" (wait, then screenshot), "screenshot"
    (at once), "cursor" (report the pointer position), or "none"."""

    action: str
    commands: tuple[str, ...]
    follow: Literal["settle", "screenshot", "cursor", "none"]
    wait_s: float = 0.0


def _coordinates(screen: Screen, coordinate: Any) -> tuple[int, int]:
    if not isinstance(coordinate, list) or len(coordinate) != 2:
        raise ToolError(f"{coordinate} must be a tuple of length 2")
    if not all(isinstance(i, int) and i >= 0 for i in coordinate):
        raise ToolError(f"{coordinate} must be a tuple of non-negative ints")
    return screen.scale(ScalingSource.API, coordinate[0], coordinate[1])


def _move(screen: Screen, coordinate: Any) -> str:
    if coordinate is None:
        return ""
    x, y = _coordinates(screen, coordinate)
    return f"mousemove --sync {x} {y}"


def plan_action(version: str, screen: Screen, xdotool: str, *, action: Any, text: Any = None,
                coordinate: Any = None, scroll_direction: Any = None, scroll_amount: Any = None,
                duration: Any = None, key: Any = None) -> ActionPlan:
    """What to do for one call; ``version`` is ``"20241022"`` or ``"20250124"``."""
    if version != "20241022" and action in NEW_IN_20250124:
        return _plan_20250124(screen, xdotool, action, text, coordinate, scroll_direction, scroll_amount,
                              duration, key)
    if version != "20241022" and action in ("left_click", "right_click", "double_click", "middle_click"):
        return _plan_20250124(screen, xdotool, action, text, coordinate, scroll_direction, scroll_amount,
                              duration, key)
    return _plan_base(screen, xdotool, action, text, coordinate)


def _plan_base(screen: Screen, xdotool: str, action: Any, text: Any, coordinate: Any) -> ActionPlan:
    if action in ("mouse_move", "left_click_drag"):
        if coordinate is None:
            raise ToolError(f"coordinate is required for {action}")
        if text is not None:
            raise ToolError(f"text is not accepted for {action}")
        x, y = _coordinates(screen, coordinate)
        if action == "mouse_move":
            return ActionPlan(action, (f"{xdotool} mousemove --sync {x} {y}",), "settle")
        return ActionPlan(action, (f"{xdotool} mousedown 1 mousemove --sync {x} {y} mouseup 1",), "settle")
    if action in ("key", "type"):
        if text is None:
            raise ToolError(f"text is required for {action}")
        if coordinate is not None:
            raise ToolError(f"coordinate is not accepted for {action}")
        if not isinstance(text, str):
            raise ToolError(f"{text} must be a string")
        if action == "key":
            return ActionPlan(action, (f"{xdotool} key -- {text}",), "settle")
        chunks = [text[i:i + TYPING_GROUP_SIZE] for i in range(0, len(text), TYPING_GROUP_SIZE)]
        return ActionPlan(action, tuple(f"{xdotool} type --delay {TYPING_DELAY_MS} -- {shlex.quote(c)}"
                                        for c in chunks), "screenshot")
    if action in ("left_click", "right_click", "double_click", "middle_click", "screenshot", "cursor_position"):
        if text is not None:
            raise ToolError(f"text is not accepted for {action}")
        if coordinate is not None:
            raise ToolError(f"coordinate is not accepted for {action}")
        if action == "screenshot":
            return ActionPlan(action, (), "screenshot")
        if action == "cursor_position":
            return ActionPlan(action, (f"{xdotool} getmouselocation --shell",), "cursor")
        return ActionPlan(action, (f"{xdotool} click {CLICK_BUTTONS[action]}",), "settle")
    raise ToolError(f"Invalid action: {action}")


def _plan_20250124(screen: Screen, xdotool: str, action: str, text: Any, coordinate: Any,
                   scroll_direction: Any, scroll_amount: Any, duration: Any, key: Any) -> ActionPlan:
    if action in ("left_mouse_down", "left_mouse_up"):
        if coordinate is not None:
            raise ToolError(f"coordinate is not accepted for {action=}.")
        verb = "mousedown" if action == "left_mouse_down" else "mouseup"
        return ActionPlan(action, (f"{xdotool} {verb} 1",), "settle")
    if action == "scroll":
        if scroll_direction is None or scroll_direction not in get_args(ScrollDirection):
            raise ToolError(f"{scroll_direction=} must be 'up', 'down', 'left', or 'right'")
        if not isinstance(scroll_amount, int) or scroll_amount < 0:
            raise ToolError(f"{scroll_amount=} must be a non-negative int")
        parts = [xdotool, _move(screen, coordinate)]
        if text:
            parts.append(f"keydown {text}")
        parts.append(f"click --repeat {scroll_amount} {SCROLL_BUTTONS[scroll_direction]}")
        if text:
            parts.append(f"keyup {text}")
        return ActionPlan(action, (" ".join(parts),), "settle")
    if action in ("hold_key", "wait"):
        if duration is None or not isinstance(duration, int | float):
            raise ToolError(f"{duration=} must be a number")
        if duration < 0:
            raise ToolError(f"{duration=} must be non-negative")
        if duration > 100:
            raise ToolError(f"{duration=} is too long.")
        if action == "wait":
            return ActionPlan(action, (), "screenshot", wait_s=float(duration))
        if text is None:
            raise ToolError(f"text is required for {action}")
        keys = shlex.quote(text)
        return ActionPlan(action, (f"{xdotool} keydown {keys} sleep {duration} keyup {keys}",), "settle")
    # clicks (left/right/middle/double/triple), with an optional move and modifier key
    if text is not None:
        raise ToolError(f"text is not accepted for {action}")
    parts = [xdotool, _move(screen, coordinate)]
    if key:
        parts.append(f"keydown {key}")
    parts.append(f"click {CLICK_BUTTONS[action]}")
    if key:
        parts.append(f"keyup {key}")
    return ActionPlan(action, (" ".join(parts),), "settle")
