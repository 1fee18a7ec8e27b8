"""Streaming drop-in for the computer-use-demo bash tool (``bash_20250124`` / ``bash_20241022``).

Model-facing contract: same name, type, parameters (``command``, ``restart``) and ``to_params()`` as
upstream's ``BashTool20250124``; the same messages for ``restart`` (``tool has been restarted.``), a
missing command (``no command provided.``) and a shell that died between calls
(``tool must be restarted`` / ``bash has exited with returncode N``). What differs, on purpose:

Output policy (why: upstream's loop sends only ``error`` when it is set, dropping stdout, so a
successful command with one warning on stderr looks like a failure and loses its output):
  * ``error`` is set exactly when the call FAILED: non-zero exit status, timeout, or the shell
    exited. Otherwise ``output`` is set. Whichever is set holds the complete transcript: stdout,
    then ``[stderr]`` and the stderr text (if any), then status lines. So the model sees everything
    with any host loop, and ``is_error`` means a real failure.
  * A non-zero status is shown as a last line ``[exit code: N]``; exit status 0 adds nothing.
  * Each stream is capped at ``max_output_chars`` (head + tail, half each). The middle is replaced by
    a note giving the number of omitted characters and the path of a spill file holding the full
    stream byte-exact (``spill_dir``, default the temp dir; kept only when the text was capped).
    Memory stays bounded by the cap plus one pipe read, whatever the command prints.
  * Non-UTF-8 bytes become U+FFFD.

Streaming: ``on_output`` (constructor argument or attribute, sync or async callable) receives
``OutputChunk(text, stream, t)`` objects as the pipes are read, in order; see ``bash.emit``.

Session policy:
  * One persistent bash per tool: cwd, variables and functions persist. A command's stdin is
    ``/dev/null`` (``read`` gets EOF at once). ``PAGER``/``GIT_PAGER`` are ``cat`` and prompts are off.
  * Trailing ``&`` returns at once; background jobs keep running until ``restart``, ``aclose()``
    or the shell exits. Their output arriving between calls is kept (last 4000 chars), shown at the
    top of the next result labelled as background output, and sent to ``on_output`` when that call
    starts; during a call it mixes with the command's own output (redirect it to a file instead).
  * ``exit N`` (or ``exec``, ``set -e`` failures...) ends the shell: the call returns at once with
    ``[exit code: N]`` and a note; the next command starts a new shell in the last known working
    directory (environment reset). Whatever that shell started is killed with it.
  * Timeout (``timeout`` seconds per call, default 120, ``None`` for no limit): the processes the
    command started get SIGINT, then SIGKILL (processes from earlier calls are spared). If the shell
    comes back, the session is kept (cwd/env intact) and the message says so; if the shell itself
    is stuck (a builtin loop) it is killed, the next call starts a new one, and the message says so.
  * ``restart``, ``aclose()``/``close()``, cancellation of a call and garbage collection of the tool
    SIGKILL the shell's whole session (process group, session members and descendants). A program
    that double-forks out of the session (a daemon) is out of reach.
  * The shell and its session never outlive the host process, however it ends (``bash.guard``): the
    shell has a parent-death signal (SIGKILL), a watchdog process kills every registered session
    when the host is gone (SIGKILL included), and on SIGTERM a handler kills them before the host
    dies of the signal (the host's own earlier handler still runs). A loop running on a thread that
    ends takes its shells along (the parent-death signal follows the forking thread).

Command policy: ``policy`` (default ``DEFAULT_POLICY``) deny rules are checked before a command is
run; a refusal raises ``ToolError("command refused by policy: <reason>")``. It is a guard rail
against accidents, not a sandbox; isolate the agent in a VM or container. The default rules are
linear in the command's length (1 MB in well under a second); a command longer than
``INLINE_CHECK_CHARS`` is checked in a worker thread so the event loop keeps running, and the check
counts against ``timeout`` (if it does not finish in time, the command is not run and the call fails
as timed out).
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from typing import Any, ClassVar, Literal

from .._compat import BaseAnthropicTool, CLIResult, ToolError, ToolResult
from ..metrics_hook import records_calls
from .bash.emit import Emitter, OutputCallback
from .bash.output import OutputChunk
from .bash.policy import DEFAULT_POLICY, CommandPolicy, DenyRule
from .bash.session import BashSession, CommandOutcome

INLINE_CHECK_CHARS = 16384   # shorter commands are checked on the loop (the default rules need < 2 ms)

__all__ = ["DEFAULT_POLICY", "CommandPolicy", "DenyRule", "OutputChunk", "StreamingBashTool",
           "StreamingBashTool20241022", "StreamingBashTool20250124"]


class StreamingBashTool(BaseAnthropicTool):
    """A persistent bash session whose output streams to ``on_output`` as it is produced."""

    name: ClassVar[Literal["bash"]] = "bash"
    api_type: ClassVar[str] = "bash_20250124"

    def __init__(self, on_output: OutputCallback | None = None, timeout: float | None = 120.0,
                 policy: CommandPolicy | None = None, max_output_chars: int = 30000,
                 spill_dir: str | os.PathLike[str] | None = None, shell: str = "/bin/bash",
                 cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> None:
        super().__init__()
        self.on_output = on_output
        self.timeout = timeout
        self.policy = DEFAULT_POLICY if policy is None else policy
        self.session = BashSession(shell=shell, cwd=cwd, env=env, spill_dir=spill_dir,
                                   max_output_chars=max_output_chars)
        self._finalizer = weakref.finalize(self, self.session.kill_sync)

    def to_params(self) -> Any:
        return {"type": self.api_type, "name": self.name}

    @records_calls
    async def __call__(self, command: str | None = None, restart: bool = False, **kwargs: Any) -> ToolResult:
        if restart:
            await self.restart()
            return ToolResult(system="tool has been restarted.")
        dead = self.session.dead_returncode
        if dead is not None:
            return ToolResult(system="tool must be restarted", error=f"bash has exited with returncode {dead}")
        if command is None:
            raise ToolError("no command provided.")
        if not isinstance(command, str):
            raise ToolError(f"command must be a string, not {type(command).__name__}.")
        t0 = time.monotonic()
        try:
            reason = await self._check_policy(command)
        except TimeoutError:
            return CLIResult(error=f"timed out: the command policy check did not finish in {self.timeout} seconds; "
                                   "the command was not run.")
        if reason is not None:
            raise ToolError(f"command refused by policy: {reason}")
        budget = None if self.timeout is None else max(0.0, self.timeout - (time.monotonic() - t0))
        outcome = await self.session.run(command, budget, Emitter(self.on_output))
        return render(outcome, self.timeout, self.session.cwd)

    async def _check_policy(self, command: str) -> str | None:
        """``policy.check`` off the event loop for long commands, bounded by ``timeout``. (Python's ``re``
        holds the GIL during one search, so only the default rules' linear cost bounds that part.)"""
        policy = self.policy
        if len(command) <= INLINE_CHECK_CHARS or not policy.rules:
            return policy.check(command)
        check = asyncio.get_running_loop().run_in_executor(None, policy.check, command)
        return await asyncio.wait_for(check, self.timeout)

    async def restart(self) -> None:
        """Kill the shell's whole session and start a fresh shell in the initial directory."""
        self.session.close()
        self.session.reset_state()
        await self.session.start(self.session.initial_cwd)

    async def aclose(self) -> None:
        """Kill the shell and everything it started; the tool starts a new shell if called again."""
        await self.session.aclose()

    def close(self) -> None:
        """Synchronous ``aclose`` for shutdown paths without a running loop."""
        self.session.kill_sync()

    async def __aenter__(self) -> StreamingBashTool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


StreamingBashTool20250124 = StreamingBashTool


class StreamingBashTool20241022(StreamingBashTool):
    """The same tool under the older API type (Claude 3.5 Sonnet tool groups)."""

    api_type: ClassVar[str] = "bash_20241022"


def _strip_nl(text: str) -> str:
    return text[:-1] if text.endswith("\n") else text


def render(outcome: CommandOutcome, timeout: float | None, cwd: str | None) -> ToolResult:
    """Turn a command outcome into the model-facing result (see the module docstring)."""
    parts = [f"[{note}]" for note in outcome.notes]
    if outcome.background:
        dropped = f", first {outcome.background_dropped} characters dropped" if outcome.background_dropped else ""
        parts.append(f"[output from background jobs since the previous command{dropped}:]\n"
                     f"{_strip_nl(outcome.background)}\n[end of background output]")
    stdout, stderr = _strip_nl(outcome.stdout), _strip_nl(outcome.stderr)
    if stdout:
        parts.append(stdout)
    if stderr:
        parts.append(f"[stderr]\n{stderr}")
    rc = outcome.exit_code
    failed = outcome.timed_out or (rc is not None and rc != 0)
    where = f" in {cwd}" if cwd else ""
    if outcome.timed_out and not outcome.shell_killed:
        parts.append(f"timed out: bash has not returned in {timeout} seconds; the command was interrupted and "
                     f"{outcome.killed} process(es) it started were killed. The shell session is still usable "
                     "(working directory and environment kept). Run long jobs in the background with output to "
                     "a file, e.g. `cmd > /tmp/cmd.log 2>&1 &`, and check on them later.")
    elif outcome.timed_out:
        parts.append(f"timed out: bash has not returned in {timeout} seconds and did not recover when the command "
                     f"was interrupted, so it and the shell were killed. The next command starts a new shell{where} "
                     "(environment variables and shell state are reset).")
    elif outcome.shell_exited:
        parts.append(f"[exit code: {rc}]")
        parts.append(f"[the command exited the shell; the next command starts a new shell{where} "
                     "(environment variables and shell state are reset)]")
    elif failed:
        parts.append(f"[exit code: {rc}]")
    text = "\n".join(parts)
    if failed:
        return CLIResult(error=text)
    return CLIResult(output=text)
