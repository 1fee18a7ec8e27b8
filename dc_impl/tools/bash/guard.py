"""The bash tool's shells never outlive the process hosting the tool (docs/reliability.md).

Each shell is a session and process group of its own (``start_new_session=True``), so nothing the
kernel does when the host dies reaches it by default: a SIGTERMed or SIGKILLed host used to leave the
shell (reparented to PID 1) and its jobs running. Three layers, each enough for its case:

* **Parent-death signal on the shell** (``shell_preexec``): the kernel SIGKILLs the shell when the host
  dies, however it dies. Linux sends it when the *thread* that forked the shell ends; asyncio starts
  subprocesses on the thread running the event loop, and a shell is only used on the loop that
  started it (``BashSession`` replaces it on another loop), so a loop thread that ends takes its
  shells along, which is what its loop's closing means anyway. It does not reach the shell's jobs
  (``sleep 60 &`` stays in the shell's group when the shell dies).
* **A watchdog process** (one per host process, started with the first shell): ``python -I -S
  procs.py --watch HOST_PID`` in a session of its own, reading a pipe on which the host
  registers each shell (pid and start time) and unregisters it when it is gone. When the host dies
  the kernel closes the pipe, the watchdog reads end of file and kills each registered shell's group,
  session members and descendants (``procs.kill_registered``), then exits. It also wakes on its
  own parent-death signal and checks its parent pid every second. If it cannot be started (no
  ``sys.executable``), the other two layers still apply.
* **A SIGTERM handler** (installed with the first shell when that happens on the main thread and
  SIGTERM is not ignored): kills every registered shell session synchronously, then hands the signal
  on: to the handler that was installed before (called as it would have been), or, if that was the
  default action, by restoring the default and re-sending SIGTERM so the host still dies of it (same
  exit status). A host that installs its own handler later replaces ours; the watchdog still applies.

SIGINT is left alone: Python's ``KeyboardInterrupt`` cancels the call and closes the shells, and the
exit finalizers run. Limit: a process that left the shell's session (``setsid``) is found only as a
descendant of the living shell; when the host dies the shell dies at once, so such a process survives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from .. import procs

_lock = threading.RLock()
_shells: dict[int, int] = {}           # registered shell pid -> start time
_watchdog: subprocess.Popen[bytes] | None = None
_watchdog_failed = False
_inherited: list[subprocess.Popen[bytes]] = []   # the parent's watchdog, seen from a forked child
_previous_term: Any = None
_term_installed = False


def shell_preexec() -> Callable[[], None]:
    """``preexec_fn`` for a shell: SIGKILL when the host (the forking thread) dies."""
    return procs.parent_death_preexec(signal.SIGKILL)


def register(pid: int) -> None:
    """A shell was started: the watchdog and the SIGTERM handler now cover its session."""
    started = procs.start_time(pid)
    if started is None:
        return
    with _lock:
        _shells[pid] = started
        _send(f"+ {pid} {started}\n")
    _install_term_handler()


def unregister(pid: int) -> None:
    """The shell's session was killed (or it exited and its session was swept)."""
    with _lock:
        if _shells.pop(pid, None) is not None:
            _send(f"- {pid}\n")


def kill_session(pid: int, include_root: bool = True) -> None:
    """``procs.kill_session`` and forget the shell (its session is gone)."""
    procs.kill_session(pid, include_root=include_root)
    unregister(pid)


def watchdog_pid() -> int | None:
    with _lock:
        return _watchdog.pid if _watchdog is not None and _watchdog.poll() is None else None


def _send(line: str) -> None:
    """Write one registration line to the watchdog, (re)starting it when needed. Caller holds _lock."""
    global _watchdog, _watchdog_failed
    for _ in range(2):
        if _watchdog is None or _watchdog.poll() is not None:
            if _watchdog_failed:
                return
            _watchdog = _start_watchdog()
            if _watchdog is None:
                _watchdog_failed = True
                return
            line = "".join(f"+ {pid} {started}\n" for pid, started in _shells.items())   # all of them, once
        assert _watchdog.stdin is not None
        try:
            os.write(_watchdog.stdin.fileno(), line.encode())
            return
        except BlockingIOError:
            return   # a stopped watchdog with a full pipe: never block the host for it
        except OSError:
            _watchdog = None   # it died: start a new one and register everything again


def _start_watchdog() -> subprocess.Popen[bytes] | None:
    script = procs.__file__
    if not sys.executable or not script or not os.path.isfile(script):
        return None
    try:
        proc = subprocess.Popen([sys.executable, "-I", "-S", script, "--watch", str(os.getpid())],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, close_fds=True, cwd="/")   # pins no mount point
    except OSError:
        return None
    assert proc.stdin is not None
    os.set_blocking(proc.stdin.fileno(), False)
    return proc


def _after_fork_in_child() -> None:
    """A forked child has none of our shells and must not hold the watchdog's pipe open."""
    global _watchdog, _lock, _watchdog_failed
    _lock = threading.RLock()
    _shells.clear()
    if _watchdog is not None:
        _inherited.append(_watchdog)   # not ours to wait for; kept so that no finalizer touches it
        if _watchdog.stdin is not None:
            try:
                _watchdog.stdin.close()
            except OSError:
                pass
    _watchdog = None
    _watchdog_failed = False


os.register_at_fork(after_in_child=_after_fork_in_child)


def kill_all() -> None:
    """Kill every registered shell session now (synchronous; used on SIGTERM)."""
    with _lock:
        shells = dict(_shells)
    procs.kill_registered(shells)
    with _lock:
        for pid in shells:
            if _shells.pop(pid, None) is not None:
                _send(f"- {pid}\n")


def _install_term_handler() -> None:
    global _previous_term, _term_installed
    if _term_installed or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_IGN or previous is None:   # ignored, or set outside Python: leave it alone
        return
    _previous_term, _term_installed = previous, True
    signal.signal(signal.SIGTERM, _on_term)


def _on_term(signum: int, frame: FrameType | None) -> None:
    kill_all()
    previous = _previous_term
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)   # die of the signal, as without us
    os.kill(os.getpid(), signum)
