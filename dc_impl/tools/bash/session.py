"""The persistent bash process behind ``StreamingBashTool``: framing, streaming, timeouts, cleanup.

One ``/bin/bash --noprofile --norc`` per session, started with ``start_new_session=True`` (its pid is
its process group and session id), stdin/stdout/stderr pipes read by an asyncio subprocess protocol
(no polling; each read is handled in the loop iteration that produced it).

Each command is written to a private script file and the shell is sent one line::

    __dc_ret <last rc>; builtin source <file> < /dev/null; __dc_rc=$?; <marker to stdout>; <marker to stderr>

so heredocs, trailing ``&``, trailing comments and unbalanced quotes are parsed from the file and can
never swallow the framing; the command's stdin is ``/dev/null`` (a read gets EOF at once); cwd,
variables and functions persist because the file runs in the shell itself. The markers start with
``\\x1f\\x1e`` and carry a random per-call token, the exit status and ``$PWD``; both streams are complete
once both markers are read.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
import shutil
import signal
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from .. import procs
from . import guard
from .emit import Emitter
from .output import BoundedText, OutputChunk, StreamCapture
from .shell import STREAMS, Call, Shell, marker_commands

DEFAULT_ENV = {"PAGER": "cat", "GIT_PAGER": "cat", "MANPAGER": "cat", "SYSTEMD_PAGER": "cat",
               "GIT_TERMINAL_PROMPT": "0", "DEBIAN_FRONTEND": "noninteractive"}


@dataclass
class CommandOutcome:
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None     # the command's status ($?), or the shell's if it exited
    shell_exited: bool = False       # the command ended the shell (exit, exec, set -e ...)
    timed_out: bool = False
    shell_killed: bool = False       # after a timeout the shell itself had to be killed
    killed: int = 0                  # processes killed after a timeout
    background: str = ""             # output of earlier background jobs that arrived between calls
    background_dropped: int = 0
    notes: list[str] = field(default_factory=list)
    duration: float = 0.0


class BashSession:
    """Owns at most one live ``Shell`` at a time; restarts it on demand (see ``StreamingBashTool``)."""

    def __init__(self, shell: str = "/bin/bash", cwd: str | os.PathLike[str] | None = None,
                 env: dict[str, str] | None = None, spill_dir: str | os.PathLike[str] | None = None,
                 max_output_chars: int = 30000, background_chars: int = 4000) -> None:
        self.shell_path = shell
        self.initial_cwd = os.fspath(cwd) if cwd is not None else None
        self.env = dict(env or {})
        self.spill_dir = spill_dir
        self.max_output_chars = max_output_chars
        self.cwd: str | None = self.initial_cwd      # last known working directory of the shell
        self._background = BoundedText(background_chars)
        self._shell: Shell | None = None
        self._script_dir: str | None = None
        self._calls = 0
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self.auto_restart_note: str | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._shell.pid if self._shell is not None and self._shell.running else None

    @property
    def dead_returncode(self) -> int | None:
        """Return code of a shell that died on its own between calls (needs an explicit restart)."""
        s = self._shell
        return s.returncode if s is not None and s.returncode is not None and s.died_idle else None

    async def start(self, cwd: str | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.close()
        if self._script_dir is None or not os.path.isdir(self._script_dir):
            self._script_dir = tempfile.mkdtemp(prefix="dc_bash_")
        start_cwd = cwd if cwd and os.path.isdir(cwd) else self.initial_cwd
        shell = await Shell.spawn(loop, self._background, self.shell_path, start_cwd,
                                  {**os.environ, **DEFAULT_ENV, **self.env})
        shell.finalizer = weakref.finalize(self, guard.kill_session, shell.pid)
        self._shell = shell
        self.cwd = start_cwd or os.getcwd()

    def close(self) -> None:
        """Kill the current shell and everything it started (synchronous, idempotent)."""
        shell, self._shell = self._shell, None
        if shell is None:
            return
        if shell.call is not None:
            shell.call.emitter.abort()
        shell.kill_now()
        if shell.transport is not None:
            shell.close_transport()

    def kill_sync(self) -> None:
        """Kill everything and remove the script directory; no event loop needed (finalizers, atexit)."""
        shell, self._shell = self._shell, None
        if shell is not None:
            shell.kill_now()
        if self._script_dir is not None:
            shutil.rmtree(self._script_dir, ignore_errors=True)
            self._script_dir = None

    def reset_state(self) -> None:
        """Forget the working directory and pending background output (used by ``restart``)."""
        self.cwd = self.initial_cwd
        self._background.take()
        self.auto_restart_note = None

    async def aclose(self) -> None:
        shell = self._shell
        self.close()
        if shell is not None and shell.loop is asyncio.get_running_loop() and shell.transport is not None:
            await asyncio.wait({shell.exited}, timeout=2.0)
        if self._script_dir is not None:
            shutil.rmtree(self._script_dir, ignore_errors=True)
            self._script_dir = None

    def _get_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    # -- running a command ----------------------------------------------------------------------

    async def run(self, command: str, timeout: float | None, emitter: Emitter) -> CommandOutcome:
        async with self._get_lock():
            return await self._run(command, timeout, emitter)

    async def _ensure_shell(self, outcome: CommandOutcome) -> Shell:
        loop = asyncio.get_running_loop()
        shell = self._shell
        if shell is not None and shell.running and shell.loop is not loop:
            outcome.notes.append("a new shell session was started because the previous one belonged to another "
                                 "event loop (working directory kept, environment reset)")
            self.close()
            shell = None
        if shell is None or not shell.running:
            if self.auto_restart_note:
                outcome.notes.append(self.auto_restart_note)
                self.auto_restart_note = None
            await self.start(self.cwd)
            shell = self._shell
        assert shell is not None
        return shell

    async def _run(self, command: str, timeout: float | None, emitter: Emitter) -> CommandOutcome:
        outcome = CommandOutcome()
        shell = await self._ensure_shell(outcome)
        t0 = time.monotonic()
        for fd in (1, 2):   # a partial character left by background output stays out of this call
            rest = shell.decoders[fd].decode(b"", final=True)
            if rest:
                self._background.add(rest)
        outcome.background, outcome.background_dropped = self._background.take()
        if outcome.background:
            emitter.emit(OutputChunk(outcome.background, "stdout"))
        self._calls += 1
        assert self._script_dir is not None
        script = Path(self._script_dir) / f"cmd-{self._calls}.sh"
        script.write_text(command if command.endswith("\n") else command + "\n", encoding="utf-8")
        token = secrets.token_hex(8)
        captures = {fd: StreamCapture(name, self.max_output_chars, self.spill_dir) for fd, name in STREAMS.items()}
        emitter.bind(lambda: shell.set_reading(False), lambda: shell.set_reading(True))
        call = Call(token, captures, emitter, shell.loop.create_future(), procs.session_members(shell.pid))
        for scanner in shell.scanners.values():
            scanner.arm(token)
        shell.call = call
        shell.write((f'__dc_ret "${{__dc_rc:-0}}"; builtin source {shlex.quote(str(script))} < /dev/null; '
                     f"__dc_rc=$?; {marker_commands(token)}\n").encode())
        try:
            await asyncio.wait({call.done, shell.exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if not call.done.done() and shell.running:
                await self._on_timeout(shell, call, outcome)
            if not call.done.done():
                await self._on_shell_gone(shell, outcome)
        except asyncio.CancelledError:
            # the host gave up on this call: nothing of it may keep running, and the shell may be mid-command
            self.auto_restart_note = ("the previous command was cancelled; its shell was killed and this is a new "
                                      "shell session (working directory kept, environment reset)")
            self.close()
            for capture in captures.values():
                capture.abandon()
            self._drop(script)
            raise
        shell.call = None
        for scanner in shell.scanners.values():
            scanner.disarm()
        await emitter.drain(None if timeout is None else max(1.0, timeout))
        outcome.stdout = self._finish(captures[1], script)
        outcome.stderr = self._finish(captures[2], script)
        self._drop(script)
        if call.done.done():
            outcome.exit_code = call.exit_code
            self.cwd = call.cwd or self.cwd
        outcome.duration = time.monotonic() - t0
        return outcome

    @staticmethod
    def _drop(script: Path) -> None:
        try:
            script.unlink()
        except OSError:
            pass

    @staticmethod
    def _finish(capture: StreamCapture, script: Path) -> str:
        # bash names the sourced file in its messages; show them the way an interactive bash would
        return capture.finish().replace(f"{script}: line ", "bash: line ").replace(f"{script}: ", "bash: ")

    async def _on_timeout(self, shell: Shell, call: Call, outcome: CommandOutcome) -> None:
        """Interrupt: SIGINT the command's processes, then SIGKILL them; kill the shell only if still stuck."""
        outcome.timed_out = True
        signalled = procs.kill_members(shell.pid, spare=call.preexisting, sig=signal.SIGINT)
        if signalled:
            await asyncio.wait({call.done, shell.exited}, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
        signalled |= procs.kill_members(shell.pid, spare=call.preexisting, sig=signal.SIGKILL)
        outcome.killed = len(signalled)
        if not call.done.done() and shell.running:
            await asyncio.wait({call.done, shell.exited}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
        if not call.done.done() and shell.running:
            outcome.shell_killed = True
            shell.kill_now()
            await asyncio.wait({shell.exited}, timeout=2.0)
        elif call.done.done():
            await self._sync(shell, call, sorted(pid for pid, _ in signalled))

    @staticmethod
    async def _sync(shell: Shell, call: Call, killed: list[int]) -> None:
        """One more round trip that ``wait``s for the killed jobs, so bash does not print ``Killed ...``
        notices about them at the top of the next call."""
        first_done = call.done
        call.token = secrets.token_hex(8)
        call.markers.clear()
        call.done = shell.loop.create_future()
        for scanner in shell.scanners.values():
            scanner.arm(call.token)
        reap = f"builtin wait {' '.join(map(str, killed))} 2>/dev/null; " if killed else ""
        shell.write(f"{reap}{marker_commands(call.token)}\n".encode())
        await asyncio.wait({call.done, shell.exited}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
        if not call.done.done():
            call.done = first_done

    async def _on_shell_gone(self, shell: Shell, outcome: CommandOutcome) -> None:
        """The shell exited during the command (``exit``, ``exec``, ``set -e``...) or was killed by us."""
        await asyncio.wait({shell.exited}, timeout=2.0)
        await asyncio.wait({shell.eof}, timeout=2.0)
        outcome.exit_code = shell.returncode
        outcome.shell_exited = not outcome.shell_killed
