"""Upstream's bash tool: one persistent ``/bin/bash`` on pipes, polled every 0.2 s for a sentinel.

Kept faithful on purpose, including its known weaknesses: no exit code, no output cap (large output
stalls the pipe), trailing ``&`` / heredocs / comments / ``exit`` hang until the 120 s timeout, the
session stays poisoned after a timeout until ``restart``, and ``restart`` only terminates bash itself.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, ClassVar, Literal

from .base import BaseAnthropicTool, CLIResult, ToolError, ToolResult


class _BashSession:
    """A session of a bash shell."""

    _started: bool
    _process: asyncio.subprocess.Process

    command: str = "/bin/bash"
    _output_delay: float = 0.2  # seconds
    _timeout: float = 120.0  # seconds
    _sentinel: str = "<<exit>>"

    def __init__(self) -> None:
        self._started = False
        self._timed_out = False

    async def start(self) -> None:
        if self._started:
            return
        self._process = await asyncio.create_subprocess_shell(
            self.command,
            preexec_fn=os.setsid,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._started = True

    def stop(self) -> None:
        """Terminate the bash shell (bash only: its children are left running, as upstream)."""
        if not self._started:
            raise ToolError("Session has not started.")
        if self._process.returncode is not None:
            return
        self._process.terminate()

    async def run(self, command: str) -> ToolResult:
        """Execute a command in the bash shell."""
        if not self._started:
            raise ToolError("Session has not started.")
        if self._process.returncode is not None:
            return ToolResult(
                system="tool must be restarted",
                error=f"bash has exited with returncode {self._process.returncode}",
            )
        if self._timed_out:
            raise ToolError(
                f"timed out: bash has not returned in {self._timeout} seconds and must be restarted"
            )

        stdin, stdout, stderr = self._process.stdin, self._process.stdout, self._process.stderr
        assert stdin is not None and stdout is not None and stderr is not None

        stdin.write(command.encode() + f"; echo '{self._sentinel}'\n".encode())
        await stdin.drain()

        # Poll the reader's private buffer until the sentinel shows up; the pipe is never consumed.
        try:
            async with asyncio.timeout(self._timeout):
                while True:
                    await asyncio.sleep(self._output_delay)
                    output = stdout._buffer.decode()  # type: ignore[attr-defined]
                    if self._sentinel in output:
                        output = output[: output.index(self._sentinel)]
                        break
        except TimeoutError:
            self._timed_out = True
            raise ToolError(
                f"timed out: bash has not returned in {self._timeout} seconds and must be restarted"
            ) from None

        if output.endswith("\n"):
            output = output[:-1]
        error = stderr._buffer.decode()  # type: ignore[attr-defined]
        if error.endswith("\n"):
            error = error[:-1]

        stdout._buffer.clear()  # type: ignore[attr-defined]
        stderr._buffer.clear()  # type: ignore[attr-defined]

        return CLIResult(output=output, error=error)


class BashTool20250124(BaseAnthropicTool):
    """A tool that allows the agent to run bash commands (``bash_20250124``)."""

    _session: _BashSession | None

    api_type: str = "bash_20250124"
    name: ClassVar[Literal["bash"]] = "bash"

    def __init__(self) -> None:
        self._session = None
        super().__init__()

    def to_params(self) -> dict[str, Any]:
        return {"type": self.api_type, "name": self.name}

    async def __call__(self, command: str | None = None, restart: bool = False, **kwargs: Any) -> ToolResult:
        if restart:
            if self._session:
                self._session.stop()
            self._session = _BashSession()
            await self._session.start()
            return ToolResult(system="tool has been restarted.")

        if self._session is None:
            self._session = _BashSession()
            await self._session.start()

        if command is not None:
            return await self._session.run(command)

        raise ToolError("no command provided.")


class BashTool20241022(BashTool20250124):
    """The same tool under the ``bash_20241022`` type."""

    api_type: str = "bash_20241022"
