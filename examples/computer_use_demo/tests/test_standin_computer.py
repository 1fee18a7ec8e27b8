"""The stand-in computer tool: upstream's display-size assertion, and clear errors without an X display."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from computer_use_demo.tools import ComputerTool20241022, ComputerTool20250124, ToolCollection, ToolError
from computer_use_demo.tools import computer as computer_module


@pytest.fixture
def no_display(monkeypatch: pytest.MonkeyPatch) -> None:
    """No X display; the display size set as the agent's container sets it."""
    for name in ("DISPLAY", "DISPLAY_NUM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WIDTH", "1024")
    monkeypatch.setenv("HEIGHT", "768")


@pytest.mark.parametrize("unset", [("WIDTH", "HEIGHT"), ("WIDTH",), ("HEIGHT",)])
def test_construction_without_display_size_fails_like_upstream(monkeypatch: pytest.MonkeyPatch,
                                                                unset: tuple[str, ...]) -> None:
    monkeypatch.setenv("WIDTH", "1024")
    monkeypatch.setenv("HEIGHT", "768")
    for name in unset:
        monkeypatch.delenv(name)
    for cls in (ComputerTool20241022, ComputerTool20250124):
        with pytest.raises(AssertionError, match=r"^WIDTH, HEIGHT must be set$"):
            cls()


@pytest.mark.usefixtures("no_display")
async def test_constructs_without_display_and_reports_it() -> None:
    tool = ComputerTool20250124()
    assert tool.to_params() == {
        "name": "computer",
        "type": "computer_20250124",
        "display_width_px": 1024,
        "display_height_px": 768,
        "display_number": None,
    }
    expected = "no X display available (DISPLAY is not set): the computer tool needs a running X server"
    for action in ("screenshot", "left_click", "key", "wait", "scroll"):
        with pytest.raises(ToolError) as info:
            await tool(action=action)
        assert info.value.message == expected
    failure = await ToolCollection(tool).run(name="computer", tool_input={"action": "screenshot"})
    assert failure.error == expected
    assert failure.output is None and failure.base64_image is None


@pytest.mark.usefixtures("no_display")
async def test_display_set_but_no_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(computer_module, "X11_SOCKET_DIR", str(tmp_path))
    monkeypatch.setenv("DISPLAY_NUM", "57")
    tool = ComputerTool20241022()
    assert tool.to_params()["display_number"] == 57
    with pytest.raises(ToolError, match=r"no X server listening on :57"):
        await tool(action="screenshot")


@pytest.mark.usefixtures("no_display")
def test_env_sizes_and_scaling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIDTH", "1920")
    monkeypatch.setenv("HEIGHT", "1080")
    params = ComputerTool20241022().to_params()
    assert (params["type"], params["display_width_px"], params["display_height_px"]) == (
        "computer_20241022",
        1366,
        768,
    )
    monkeypatch.setenv("WIDTH", "not-a-number")
    with pytest.raises(ValueError):
        ComputerTool20241022()


def _executable(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.usefixtures("no_display")
async def test_with_a_display_it_shells_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sockets = tmp_path / "x11"
    sockets.mkdir()
    (sockets / "X42").touch()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "xdotool.log"
    _executable(bin_dir / "xdotool", f'echo "$DISPLAY $*" >> {log}\n')
    # scrot -p PATH: write a tiny fake PNG where asked.
    _executable(bin_dir / "scrot", 'printf "PNGDATA" > "$2"\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("DISPLAY_NUM", "42")
    monkeypatch.setattr(computer_module, "X11_SOCKET_DIR", str(sockets))
    monkeypatch.setattr(computer_module, "OUTPUT_DIR", str(tmp_path / "out"))
    if computer_module.shutil.which("gnome-screenshot"):
        pytest.skip("gnome-screenshot on PATH would be preferred over the fake scrot")

    tool = ComputerTool20250124()
    tool._screenshot_delay = 0.0
    result = await tool(action="left_click", coordinate=[10, 20])
    assert base64.b64decode(result.base64_image or "") == b"PNGDATA"
    assert log.read_text().splitlines() == [":42 mousemove --sync 10 20 click 1"]
    with pytest.raises(ToolError, match=r"text is required for key"):
        await tool(action="key")
    with pytest.raises(ToolError, match=r"Invalid action: fly"):
        await tool(action="fly")
