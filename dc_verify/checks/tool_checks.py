"""Checks of the deployed streaming tools, with real bash and real files in a scratch directory.

- ``bash_streaming``: a paced command's output reaches ``on_output`` in several chunks, spread in time,
  the first well before the command ends (a tool that buffers until the end fails here);
- ``bash_exit_code``: a failing command's exit code is visible in the result the model gets;
- ``bash_timeout``: on a per-call timeout every process the command started (foreground and
  background) is gone within a grace period, and ``aclose()`` leaves nothing either;
- ``file_roundtrip`` / ``file_large_view``: see ``file_checks.py``.

When the loop hook is deployed, the bash check also confirms that the host's tool group (as the
hooked ``loop`` module sees it) hands out the streaming bash tool, since its toggle is on.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path
from typing import Any

from .child_env import CheckFailed, ChildEnv
from .file_checks import CHECKS as FILE_CHECKS

PACE_LINES = 4
PACE_S = 0.25
EXIT_CODE = 7
EXIT_RE = re.compile(rf"exit(?:[ _-]?(?:code|status))?\W{{0,4}}{EXIT_CODE}\b", re.IGNORECASE)
TIMEOUT_S = 1.0
REAP_GRACE_S = 3.0


def bash_module(env: ChildEnv) -> Any:
    return env.impl("tools.dc_bash")


def result_text(result: Any) -> str:
    return "\n".join(str(getattr(result, f, None) or "") for f in ("output", "error", "system"))


def hooked_group_tools(env: ChildEnv, version: str = "computer_use_20250429") -> list[type] | None:
    """Tool classes the hooked host loop would build for ``version``; None without a hooked loop."""
    loop = env.host("loop")
    if loop is None or getattr(loop, "DC_STREAMING_HOOK", None) is None:
        return None
    return list(loop.TOOL_GROUPS_BY_VERSION[version].tools)


async def check_bash_streaming(env: ChildEnv) -> str:
    mod = bash_module(env)
    arrivals: list[tuple[float, str, str]] = []

    def on_output(chunk: Any) -> None:
        arrivals.append((time.monotonic(), str(chunk.text), str(chunk.stream)))

    tool = mod.StreamingBashTool(on_output=on_output, timeout=30.0)
    try:
        t0 = time.monotonic()
        result = await tool(command=f"for i in $(seq 1 {PACE_LINES}); do echo tick$i; sleep {PACE_S}; done")
        t_end = time.monotonic()
    finally:
        await tool.aclose()
    text = ""
    first_seen: dict[int, float] = {}
    for t, chunk_text, stream in arrivals:
        if stream != "stdout":
            continue
        text += chunk_text
        for i in range(1, PACE_LINES + 1):
            if f"tick{i}\n" in text and i not in first_seen:
                first_seen[i] = t
    if len(first_seen) < PACE_LINES:
        raise CheckFailed(f"on_output saw only {sorted(first_seen)} of {PACE_LINES} paced lines "
                          f"({len(arrivals)} chunks; result output {getattr(result, 'output', None)!r:.80})")
    if f"tick{PACE_LINES}" not in str(getattr(result, "output", "")):
        raise CheckFailed(f"the result's output lacks the last line: {getattr(result, 'output', None)!r:.120}")
    chunk_times = sorted({t for t, _, s in arrivals if s == "stdout"})
    lead = t_end - first_seen[1]
    spread = first_seen[PACE_LINES] - first_seen[1]
    expected = (PACE_LINES - 1) * PACE_S
    if len(chunk_times) < 3 or spread < expected * 0.5 or lead < expected * 0.6:
        raise CheckFailed(f"output was not streamed: {len(chunk_times)} stdout chunks, first line arrived "
                          f"{lead:.2f} s before the command returned and lines spread over {spread:.2f} s "
                          f"(the command paces {PACE_LINES} lines over ~{expected + PACE_S:.2f} s)")
    detail = (f"{len(chunk_times)} stdout chunks over {spread:.2f} s; first line {lead:.2f} s before the "
              f"command returned ({t_end - t0:.2f} s)")
    group = hooked_group_tools(env)
    if group is not None:
        if not any(cls.__module__.endswith(".dc_bash") for cls in group):
            raise CheckFailed(f"{detail}; but the hooked loop's tool group still builds "
                              f"{[c.__name__ for c in group]} with use_streaming_bash on")
        detail += "; the hooked loop's tool group uses the streaming bash tool"
    return detail


async def check_bash_exit_code(env: ChildEnv) -> str:
    tool = bash_module(env).StreamingBashTool(timeout=30.0)
    try:
        ok = await tool(command="echo fine")
        failing = await tool(command=f"echo before-failure; bash -c 'exit {EXIT_CODE}'")
    finally:
        await tool.aclose()
    if "fine" not in str(getattr(ok, "output", "")):
        raise CheckFailed(f"`echo fine` returned {result_text(ok)!r:.160}")
    text = result_text(failing)
    if "before-failure" not in text:
        raise CheckFailed(f"stdout of the failing command was lost: {text!r:.160}")
    if not EXIT_RE.search(text):
        raise CheckFailed(f"exit code {EXIT_CODE} is not reported to the model: result was {text!r:.200}")
    where = next(f for f in ("output", "error", "system") if EXIT_RE.search(str(getattr(failing, f, None) or "")))
    return f"exit code {EXIT_CODE} reported in the result's {where}; stdout kept"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


async def _wait_dead(pids: list[int], grace: float) -> list[int]:
    deadline = time.monotonic() + grace
    while True:
        alive = [p for p in pids if _alive(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        await asyncio.sleep(0.05)


async def check_bash_timeout(env: ChildEnv) -> str:
    work = env.workdir("bash_timeout")
    pidfile = work / "pids"
    tool = bash_module(env).StreamingBashTool(timeout=TIMEOUT_S)
    command = (f"sleep 300 & echo $! >> {pidfile}; "
               f"sh -c 'echo $$ >> {pidfile}; exec sleep 300'")
    t0 = time.monotonic()
    outcome = "returned"
    try:
        try:
            result: Any = await tool(command=command)
            outcome = f"returned {result_text(result)!r:.100}"
        except Exception as exc:  # a ToolError is a legitimate way to report the timeout
            outcome = f"raised {type(exc).__name__}: {exc}"
        took = time.monotonic() - t0
        pids = _read_pids(pidfile)
        if len(pids) < 2:
            raise CheckFailed(f"the command did not start both processes (pids {pids}); the call {outcome}")
        if took > TIMEOUT_S + 10:
            raise CheckFailed(f"a {TIMEOUT_S:g} s timeout took {took:.1f} s to fire")
        survivors = await _wait_dead(pids, REAP_GRACE_S)
        if survivors:
            raise CheckFailed(f"after the {TIMEOUT_S:g} s timeout (call {outcome}) processes {survivors} of "
                              f"{pids} still run {REAP_GRACE_S:g} s later")
    finally:
        await tool.aclose()
        leftovers = [p for p in _read_pids(pidfile) if _alive(p)]
        for pid in leftovers:  # never leave our own test processes behind
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
    return (f"timeout after {took:.2f} s ({outcome[:60]}); foreground and background processes "
            f"{pids} all gone")


def _read_pids(path: Path) -> list[int]:
    try:
        return [int(x) for x in path.read_text().split() if x.isdigit()]
    except FileNotFoundError:
        return []


CHECKS = {
    "bash_streaming": check_bash_streaming,
    "bash_exit_code": check_bash_exit_code,
    "bash_timeout": check_bash_timeout,
    **FILE_CHECKS,
}
