"""A private X display for the screenshot tool's checks, tests and benchmark.

``PrivateX`` starts Debian's ``Xvfb`` on a display number it picks itself (``-displayfd``), so runs
in parallel never collide, and stops it (and every application started on it) on exit.
``PrivateX.app(...)`` starts ``dc_verify/demo/xapp.py``: a full-screen Tk window that changes colour a
set time after a click, prints ``ready`` when mapped and ``changed <monotonic time>`` per change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

XAPP = Path(__file__).with_name("xapp.py")
COLOURS = ["#204080", "#c03030", "#30a050", "#d0b020", "#8040a0"]  # xapp.py's colours, in order


def missing_parts() -> str | None:
    """Why a private X display with xdotool and scrot cannot be had here, or None."""
    for prog, package in (("Xvfb", "xvfb"), ("xdotool", "xdotool"), ("scrot", "scrot")):
        if shutil.which(prog) is None:
            return f"{prog} is not installed (Debian package {package})"
    try:
        import tkinter  # noqa: F401
    except ImportError:
        return "tkinter is not available in this Python (the test application is a Tk window)"
    return None


class XApp:
    def __init__(self, display: str, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(XAPP), *args], env={**os.environ, "DISPLAY": display},
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError(f"the test application did not start on {display}")
        time.sleep(0.2)  # let the first frame land

    def changes(self) -> list[float]:
        """Stop the application and return the monotonic times of its colour changes."""
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        return [float(line.split()[1]) for line in out.splitlines() if line.startswith("changed")]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


class PrivateX:
    def __init__(self, width: int = 1024, height: int = 768) -> None:
        self.size = (width, height)
        self.proc: subprocess.Popen[bytes] | None = None
        self.display = ""
        self.apps: list[XApp] = []

    def __enter__(self) -> PrivateX:
        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0",
                                      f"{self.size[0]}x{self.size[1]}x24", "-nolisten", "tcp", "-dpi", "96"],
                                     pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write_fd)
        with os.fdopen(read_fd) as r:
            number = r.readline().strip()
        if not number.isdigit():
            self.__exit__()
            raise RuntimeError("Xvfb did not start (no display number reported)")
        self.display = f":{number}"
        return self

    @property
    def number(self) -> str:
        return self.display[1:]

    def env(self) -> dict[str, str]:
        """Upstream's image environment for this display: DISPLAY_NUM, WIDTH, HEIGHT (and DISPLAY)."""
        return {"DISPLAY": self.display, "DISPLAY_NUM": self.number, "WIDTH": str(self.size[0]),
                "HEIGHT": str(self.size[1])}

    def app(self, *args: str) -> XApp:
        app = XApp(self.display, *args)
        self.apps.append(app)
        return app

    def __exit__(self, *exc: object) -> None:
        for app in self.apps:
            app.stop()
        self.apps.clear()
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
