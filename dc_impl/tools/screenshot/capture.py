"""Screen capture: in process with ``mss`` + Pillow, or upstream's programs as a fallback.

``InProcessCapture`` grabs the root window over XShm (``mss``; it falls back to XGetImage by itself
when the MIT-SHM extension is unusable, and we log that once). Comparison frames are grabbed without
the pointer; the screenshot sent to the model is grabbed with it (XFixes), like upstream's
``scrot -p``. Scaling happens only when the target size differs from the screen (Pillow's Lanczos,
the filter ImageMagick's ``-resize`` uses to shrink); PNG encoding uses zlib level 1, which is
several times faster than the default and only slightly larger.

All X calls run on one worker thread that owns the X connections, so the event loop never blocks
on them and the connections are never shared between threads.

``ProgramCapture`` is upstream's way (``gnome-screenshot``/``scrot -p`` into a file, then
``convert -resize WxH!``), used when ``mss`` or Pillow cannot be imported; ``make_capture`` says
so once in the log.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import logging
import os
import shlex
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .run import run_command

log = logging.getLogger("dc_impl.tools.dc_screenshot")

PNG_COMPRESS_LEVEL = 1
_warned: set[str] = set()


def warn_once(key: str, message: str, *args: object) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message, *args)


class CaptureError(Exception):
    """The screen could not be captured (no display, a failed program); the message is for the model."""


@dataclass
class Shot:
    png: bytes
    width: int           # of the PNG (after scaling)
    height: int
    capture_ms: float
    scale_ms: float
    encode_ms: float
    backend: str


class InProcessCapture:
    backend = "mss"

    def __init__(self, display: str) -> None:
        self.display = display
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="dc-screenshot")
        self._plain: Any = None
        self._cursor: Any = None

    # ---- worker-thread side ------------------------------------------------------------------
    def _open(self) -> None:
        if self._plain is not None:
            return
        import mss

        factory = getattr(mss, "MSS", None) or mss.mss
        try:
            self._plain = factory(display=self.display, with_cursor=False)
            self._cursor = factory(display=self.display, with_cursor=True)
        except Exception as exc:  # mss raises ScreenShotError for an unreachable display
            self._plain = self._cursor = None
            raise CaptureError(f"cannot open X display {self.display}: {exc}") from exc

    def _grab_plain(self) -> bytes:
        self._open()
        try:
            shot = self._plain.grab(self._plain.monitors[0])
        except Exception as exc:
            raise CaptureError(f"screen capture on {self.display} failed: {exc}") from exc
        issues = [str(s) for s in getattr(self._plain, "performance_status", None) or ()
                  if "working correctly" not in str(s)]
        if issues:
            warn_once("mss-perf", "streaming screenshot: MIT-SHM (XShm) is not usable, capturing with XGetImage: %s",
                      "; ".join(issues))
        return bytes(shot.raw)

    def _shot(self, target: tuple[int, int] | None) -> Shot:
        from PIL import Image

        self._open()
        t0 = time.perf_counter()
        try:
            grabbed = self._cursor.grab(self._cursor.monitors[0])
        except Exception as exc:
            raise CaptureError(f"screen capture on {self.display} failed: {exc}") from exc
        if not getattr(self._cursor, "with_cursor", True):
            warn_once("mss-cursor", "the X server has no XFixes: screenshots are taken without the pointer")
        image = Image.frombuffer("RGB", grabbed.size, grabbed.bgra, "raw", "BGRX", 0, 1)
        t1 = time.perf_counter()
        if target is not None and tuple(target) != tuple(image.size):
            image = image.resize(target, Image.Resampling.LANCZOS)
        t2 = time.perf_counter()
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        t3 = time.perf_counter()
        return Shot(buf.getvalue(), image.size[0], image.size[1], (t1 - t0) * 1000, (t2 - t1) * 1000,
                    (t3 - t2) * 1000, self.backend)

    def _close(self) -> None:
        for m in (self._plain, self._cursor):
            if m is not None:
                try:
                    m.close()
                except Exception:  # noqa: S110 - closing a dead X connection
                    pass
        self._plain = self._cursor = None

    # ---- event-loop side -----------------------------------------------------------------------
    async def grab_frame(self) -> bytes:
        """Raw pixels of the screen without the pointer, for comparisons."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._grab_plain)

    async def screenshot(self, target: tuple[int, int] | None) -> Shot:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._shot, target)

    def close(self) -> None:
        try:
            self._pool.submit(self._close).result(timeout=5)
        except Exception:  # noqa: S110 - best effort at shutdown
            pass
        self._pool.shutdown(wait=False)


class ProgramCapture:
    """Upstream's capture: a screenshot program writes a PNG file, ``convert`` resizes it."""

    backend = "scrot"

    def __init__(self, display_prefix: str, output_dir: str | None = None) -> None:
        self.display_prefix = display_prefix
        self.output_dir = Path(output_dir or Path(tempfile.gettempdir()) / "outputs")

    async def screenshot(self, target: tuple[int, int] | None, size: tuple[int, int]) -> Shot:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / f"screenshot_{uuid.uuid4().hex}.png"
        quoted = shlex.quote(str(path))
        if shutil.which("gnome-screenshot"):
            cmd = f"{self.display_prefix}gnome-screenshot -f {quoted} -p"
        else:
            cmd = f"{self.display_prefix}scrot -p {quoted}"
        t0 = time.perf_counter()
        _rc, _out, err = await run_command(cmd)
        t1 = time.perf_counter()
        width, height = size
        if target is not None and tuple(target) != tuple(size):
            await run_command(f"convert {quoted} -resize {target[0]}x{target[1]}! {quoted}")
            width, height = target
        t2 = time.perf_counter()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CaptureError(f"Failed to take screenshot: {err or exc}") from exc
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
        return Shot(data, width, height, (t1 - t0) * 1000, (t2 - t1) * 1000, 0.0, self.backend)

    def close(self) -> None:
        return None




def in_process_problem() -> str | None:
    """Why in-process capture cannot be used here (a missing library), or None."""
    try:
        import mss  # noqa: F401
    except ImportError:
        return "the mss library is not installed"
    try:
        from PIL import Image  # noqa: F401
    except ImportError:
        return "Pillow is not installed"
    return None


def make_capture(display: str, display_prefix: str) -> InProcessCapture | ProgramCapture:
    """The in-process backend when its libraries import, else upstream's programs (logged once)."""
    problem = None if os.environ.get("DC_SCREENSHOT_BACKEND", "") != "scrot" else "DC_SCREENSHOT_BACKEND=scrot"
    problem = problem or in_process_problem()
    if problem is None:
        return InProcessCapture(display)
    warn_once("fallback", "streaming screenshot: %s; using upstream's scrot + convert with its fixed 2.0 s delay",
              problem)
    return ProgramCapture(display_prefix)
