"""A private Xvfb per test module (``xdisplay``) and the Tk application under test (``xapp``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent
XAPP = HERE / "xapp.py"


def start_xvfb(width: int = 1024, height: int = 768) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``Xvfb`` on a free display it picks itself (``-displayfd``); returns (process, ":N")."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24",
                             "-nolisten", "tcp", "-dpi", "96"], pass_fds=(write_fd,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as r:
        number = r.readline().strip()
    if not number.isdigit():
        proc.kill()
        raise RuntimeError("Xvfb did not report a display number")
    return proc, f":{number}"


def x_unavailable() -> str | None:
    for prog in ("Xvfb", "xdotool", "scrot"):
        if shutil.which(prog) is None:
            return f"{prog} is not installed (Debian packages xvfb, xdotool, scrot; .ci/run installs them)"
    try:
        import mss  # noqa: F401
        import PIL  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install '.[screenshot]')"
    return None


@pytest.fixture(scope="module")
def xdisplay() -> Iterator[str]:
    reason = x_unavailable()
    if reason:
        pytest.skip(reason)
    proc, display = start_xvfb()
    try:
        yield display
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def xenv(xdisplay: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The tool's environment for the private display: DISPLAY_NUM, WIDTH, HEIGHT as upstream's image sets them."""
    monkeypatch.setenv("DISPLAY_NUM", xdisplay[1:])
    monkeypatch.setenv("DISPLAY", xdisplay)
    monkeypatch.setenv("WIDTH", "1024")
    monkeypatch.setenv("HEIGHT", "768")
    return xdisplay


class XApp:
    def __init__(self, display: str, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(XAPP), *args], env={**os.environ, "DISPLAY": display},
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", line

    def changes(self) -> list[float]:
        """Monotonic times of the colour changes so far (reads what the app printed)."""
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        return [float(line.split()[1]) for line in out.splitlines() if line.startswith("changed")]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


@pytest.fixture
def xapp(xenv: str) -> Iterator[object]:
    apps: list[XApp] = []

    def start(*args: str) -> XApp:
        app = XApp(xenv, *args)
        apps.append(app)
        time.sleep(0.2)
        return app

    yield start
    for app in apps:
        app.stop()
