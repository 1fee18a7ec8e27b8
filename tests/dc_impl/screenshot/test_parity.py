"""Drop-in parity with upstream's computer tool (the stand-in in examples/, faithful to upstream):
the same name, type, params, options, scaling, and the same errors for bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dc_impl._compat import ToolError
from dc_impl.tools import dc_screenshot
from dc_impl.tools.dc_screenshot import StreamingComputerTool20241022, StreamingComputerTool20250124

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT / "examples") not in sys.path:
    sys.path.insert(0, str(ROOT / "examples"))

from computer_use_demo.tools import computer as upstream  # noqa: E402

PAIRS = [(StreamingComputerTool20241022, upstream.ComputerTool20241022),
         (StreamingComputerTool20250124, upstream.ComputerTool20250124)]
SIZES = [("1024", "768"), ("1280", "800"), ("1920", "1080"), ("1366", "768"), ("2560", "1600"), ("800", "600")]


@pytest.mark.parametrize(("ours", "theirs"), PAIRS)
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_params_options_and_scaling_match(ours, theirs, width: str, height: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIDTH", width)
    monkeypatch.setenv("HEIGHT", height)
    monkeypatch.setenv("DISPLAY_NUM", "7")
    a, b = ours(), theirs()
    assert (a.name, a.api_type) == (b.name, b.api_type)
    assert a.to_params() == b.to_params() and a.options == b.options
    for x, y in [(0, 0), (100, 200), (1023, 767), (1279, 799)]:
        for source in (upstream.ScalingSource.API, upstream.ScalingSource.COMPUTER):
            try:
                expected = b.scale_coordinates(source, x, y)
            except Exception as exc:  # upstream's out-of-bounds error
                with pytest.raises(ToolError) as got:
                    a.scale_coordinates(dc_screenshot.ScalingSource(source.value), x, y)
                assert got.value.message == exc.message
                continue
            assert a.scale_coordinates(dc_screenshot.ScalingSource(source.value), x, y) == expected


BAD_INPUTS = [
    {"action": "mouse_move"},
    {"action": "mouse_move", "coordinate": [1, 2], "text": "x"},
    {"action": "left_click_drag"},
    {"action": "mouse_move", "coordinate": [1]},
    {"action": "mouse_move", "coordinate": [1, -2]},
    {"action": "mouse_move", "coordinate": [1, "2"]},
    {"action": "mouse_move", "coordinate": (1, 2)},
    {"action": "mouse_move", "coordinate": [5000, 10]},
    {"action": "key"},
    {"action": "type", "text": "a", "coordinate": [1, 1]},
    {"action": "type", "text": 12},
    {"action": "screenshot", "text": "x"},
    {"action": "screenshot", "coordinate": [1, 1]},
    {"action": "cursor_position", "coordinate": [1, 1]},
    {"action": "zoom"},
    {"action": None},
]
BAD_20250124 = [
    {"action": "left_mouse_down", "coordinate": [1, 1]},
    {"action": "scroll", "scroll_direction": "sideways", "scroll_amount": 1},
    {"action": "scroll", "scroll_direction": "up", "scroll_amount": -1},
    {"action": "scroll", "scroll_direction": "up", "scroll_amount": "3"},
    {"action": "hold_key", "text": "a"},
    {"action": "hold_key", "text": "a", "duration": -1},
    {"action": "wait", "duration": 101},
    {"action": "hold_key", "duration": 1},
    {"action": "left_click", "text": "x"},
    {"action": "triple_click", "coordinate": [1, 2, 3]},
]


async def _message(tool, kwargs: dict) -> str:
    """The message of the ToolError the call raises (ours or upstream's ToolError class)."""
    with pytest.raises(Exception) as err:
        await tool(**kwargs)
    assert type(err.value).__name__ == "ToolError", err.value
    return err.value.message


@pytest.mark.parametrize("kwargs", BAD_INPUTS + BAD_20250124)
@pytest.mark.parametrize(("ours", "theirs"), PAIRS)
async def test_bad_input_gets_upstreams_error(ours, theirs, kwargs: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIDTH", "1920")  # scaled to FWXGA, so out-of-bounds coordinates are checked
    monkeypatch.setenv("HEIGHT", "1080")
    b = theirs()
    monkeypatch.setattr(b, "_require_display", lambda: None)  # compare validation only, before any X call
    assert await _message(ours(), kwargs) == await _message(b, kwargs)


async def test_no_display_is_one_clear_tool_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("DISPLAY_NUM", raising=False)
    assert "DISPLAY is not set" in await _message(StreamingComputerTool20250124(), {"action": "screenshot"})
    monkeypatch.setenv("DISPLAY_NUM", "919")  # nothing listens there
    msg = await _message(StreamingComputerTool20250124(), {"action": "left_click"})
    assert msg.startswith("no X display available") and ":919" in msg


def test_missing_width_height_default_to_xga(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WIDTH", raising=False)
    monkeypatch.delenv("HEIGHT", raising=False)
    tool = StreamingComputerTool20250124(on_progress=print)
    assert tool.options["display_width_px"] == 1024 and tool.options["display_height_px"] == 768
    assert tool.on_progress is print
