"""Run one short shell command (xdotool, scrot, convert) the way upstream's ``tools/run.py`` does,
with a timeout that kills the command's whole process group instead of leaving it behind."""

from __future__ import annotations

import asyncio
import contextlib

from ..procs import kill_group

DEFAULT_TIMEOUT_S = 120.0
MAX_OUTPUT = 16000
TRUNCATED = "<response clipped><NOTE>To save on context only part of this file has been shown to you.</NOTE>"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_OUTPUT else text[:MAX_OUTPUT] + TRUNCATED


async def run_command(cmd: str, timeout: float = DEFAULT_TIMEOUT_S) -> tuple[int, str, str]:
    """``(returncode, stdout, stderr)``; ``TimeoutError`` after ``timeout`` seconds (group killed)."""
    proc = await asyncio.create_subprocess_shell(cmd, stdin=asyncio.subprocess.DEVNULL,
                                                 stdout=asyncio.subprocess.PIPE,
                                                 stderr=asyncio.subprocess.PIPE, start_new_session=True)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException:
        kill_group(proc.pid)
        with contextlib.suppress(Exception):
            await asyncio.shield(proc.wait())
        raise
    return proc.returncode or 0, _clip(out.decode(errors="replace")), _clip(err.decode(errors="replace"))
