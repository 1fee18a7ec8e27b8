"""One bash process and its pipes: protocol callbacks, marker handling, pipe control, kill.

``session.BashSession`` owns at most one ``Shell`` at a time and drives the calls; this module
is what happens inside the event loop while bytes arrive. See ``session`` for the framing.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import weakref

from .. import procs
from . import guard
from .emit import Emitter
from .output import BoundedText, MarkerScanner, OutputChunk, StreamCapture, new_decoder

STREAMS = {1: "stdout", 2: "stderr"}
PIPE_SIZE = 1024 * 1024   # the unprivileged maximum (/proc/sys/fs/pipe-max-size) on stock Linux
# __dc_ret sets $? for the next command; __dc_out/__dc_err are bash-chosen fds (>= 10) duplicating the
# original stdout/stderr pipes, so markers reach us in order even after `exec >file` or `exec 2>&1`.
INIT = b'__dc_ret() { return "$1"; }\nexec {__dc_out}>&1 {__dc_err}>&2\n'


def marker_commands(token: str) -> str:
    """Shell text printing the stdout marker (with ``$__dc_rc`` and ``$PWD``) and the stderr marker."""
    fmt = f"\\037\\036DC:{token}:"
    return (f"builtin printf '{fmt}%s:%s\\036\\n' \"$__dc_rc\" \"$PWD\" >&\"$__dc_out\"; "
            f"builtin printf '{fmt}\\036\\n' >&\"$__dc_err\"")


class Call:
    """State of the command being run: its token, captures, callback, and what the markers said."""

    def __init__(self, token: str, captures: dict[int, StreamCapture], emitter: Emitter,
                 done: asyncio.Future[None], preexisting: set[procs.ProcKey]) -> None:
        self.token = token
        self.captures = captures
        self.emitter = emitter
        self.done = done
        self.preexisting = preexisting
        self.markers: set[int] = set()
        self.exit_code: int | None = None
        self.cwd: str | None = None


class _Protocol(asyncio.SubprocessProtocol):
    def __init__(self, shell: Shell) -> None:
        self._shell = shell

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self._shell.transport = transport
        self._shell.pid = transport.get_pid()
        for fd in STREAMS:   # bigger pipes: fewer reads and wakeups for large output, same latency
            pipe = transport.get_pipe_transport(fd)
            file = pipe.get_extra_info("pipe") if pipe is not None else None
            if file is not None and hasattr(fcntl, "F_SETPIPE_SZ"):
                try:
                    fcntl.fcntl(file.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
                except OSError:
                    pass

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self._shell.on_data(fd, data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._shell.on_eof(fd)

    def process_exited(self) -> None:
        self._shell.on_exit()


class Shell:
    """One bash process and its pipes; owned by ``BashSession``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, background: BoundedText) -> None:
        self.loop = loop
        self.transport: asyncio.SubprocessTransport | None = None
        self.pid = 0
        self.scanners = {1: MarkerScanner(), 2: MarkerScanner()}
        self.decoders = {1: new_decoder(), 2: new_decoder()}
        self.background = background
        self.call: Call | None = None
        self.returncode: int | None = None
        self.open_pipes = {1, 2}
        self.eof: asyncio.Future[None] = loop.create_future()
        self.exited: asyncio.Future[None] = loop.create_future()
        self.finalizer: weakref.finalize | None = None
        self.died_idle = False   # exited while no command was running (needs an explicit restart)

    @classmethod
    async def spawn(cls, loop: asyncio.AbstractEventLoop, background: BoundedText, shell_path: str,
                    cwd: str | None, env: dict[str, str]) -> Shell:
        """Start ``shell_path --noprofile --norc`` in a new session with our three pipes; it and its
        session die with this process (``guard``)."""
        shell = cls(loop, background)
        await loop.subprocess_exec(
            lambda: _Protocol(shell), shell_path, "--noprofile", "--norc",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True, cwd=cwd, env=env, preexec_fn=guard.shell_preexec())
        guard.register(shell.pid)
        shell.write(INIT)
        return shell

    # -- protocol callbacks (run inside the event loop) ---------------------------------------

    def on_data(self, fd: int, data: bytes) -> None:
        before, payload, after = self.scanners[fd].feed(data)
        call = self.call
        if before and call is not None:
            self._to_call(call, fd, before)
        if payload is not None and call is not None:
            tail = self.decoders[fd].decode(b"", final=True)
            if tail:
                self._text_to_call(call, fd, tail)
            self._marker(call, fd, payload)
        if after:
            text = self.decoders[fd].decode(after)
            if text:
                self.background.add(text)

    def _to_call(self, call: Call, fd: int, raw: bytes) -> None:
        call.captures[fd].add_bytes(raw)
        text = self.decoders[fd].decode(raw)
        if text:
            self._text_to_call(call, fd, text)

    @staticmethod
    def _text_to_call(call: Call, fd: int, text: str) -> None:
        call.captures[fd].add_text(text)
        call.emitter.emit(OutputChunk(text, STREAMS[fd]))

    def _marker(self, call: Call, fd: int, payload: bytes) -> None:
        call.markers.add(fd)
        if fd == 1:
            rc, _, cwd = payload.partition(b":")
            try:
                call.exit_code = int(rc)
            except ValueError:
                call.exit_code = None
            call.cwd = os.fsdecode(cwd)
        if call.markers == {1, 2} and not call.done.done():
            call.done.set_result(None)

    def on_eof(self, fd: int) -> None:
        if fd not in STREAMS:
            return
        self.open_pipes.discard(fd)
        call = self.call
        if call is not None:   # flush a partial character and any bytes held back as a possible marker
            held = self.scanners[fd].flush()
            if held:
                self._to_call(call, fd, held)
            tail = self.decoders[fd].decode(b"", final=True)
            if tail:
                self._text_to_call(call, fd, tail)
        if not self.open_pipes and not self.eof.done():
            self.eof.set_result(None)
        self._maybe_close()

    def _maybe_close(self) -> None:
        if self.returncode is not None and not self.open_pipes and self.transport is not None:
            self.transport.close()

    def on_exit(self) -> None:
        assert self.transport is not None
        self.returncode = self.transport.get_returncode()
        self.died_idle = self.call is None
        guard.kill_session(self.pid, include_root=False)   # the shell is gone: nothing it started may outlive it
        if self.finalizer is not None:
            self.finalizer.detach()
        if not self.exited.done():
            self.exited.set_result(None)
        self._maybe_close()

    # -- control --------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.transport is not None and self.returncode is None

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        stdin = self.transport.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        stdin.write(data)

    def set_reading(self, on: bool) -> None:
        if self.transport is None:
            return
        for fd in (1, 2):
            pipe = self.transport.get_pipe_transport(fd)
            if isinstance(pipe, asyncio.ReadTransport) and not pipe.is_closing():
                pipe.resume_reading() if on else pipe.pause_reading()

    def close_transport(self) -> None:
        """Close the pipes and the transport, also when their event loop is already closed."""
        assert self.transport is not None
        if not self.loop.is_closed():
            self.transport.close()
            return
        for fd in (0, 1, 2):   # the loop cannot run callbacks any more: close the pipe files directly
            pipe = self.transport.get_pipe_transport(fd)
            if pipe is None:
                continue
            file = pipe.get_extra_info("pipe")
            if file is not None:
                file.close()
            try:
                pipe.close()
            except RuntimeError:
                pass
        try:
            self.transport.close()
        except RuntimeError:
            pass

    def kill_now(self) -> None:
        """Synchronous: SIGKILL the whole session. Safe from any thread or after the loop closed."""
        if self.pid:
            guard.kill_session(self.pid, include_root=self.returncode is None)
        if self.finalizer is not None:
            self.finalizer.detach()


