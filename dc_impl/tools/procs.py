"""Process helpers (Linux): finding and killing the processes of a bash session, the parent-death
signal, and the watchdog that kills registered sessions when their host process dies.

This module imports nothing but the standard library: it also runs on its own as the watchdog
process (``python -I -S procs.py --watch HOST_PID``, see ``watch``), and it is the one place
for these helpers in the project: the bash tool (``bash.guard``, ``bash.shell``), the screenshot tool's
commands (``screenshot.run``), the installer's verification run and the verifier's child.

A process belongs to the session of shell ``root`` when it is in the shell's kernel session (it was
started with ``start_new_session=True``, so the session id is the shell's pid) or when it descends
from the shell through a chain of living parents (this also catches children that called ``setsid``
themselves). Processes that both left the session and lost their parent (a daemon's double fork)
cannot be found this way; that is a documented limit.

Each process is identified by ``(pid, starttime)`` so a recycled pid is never mistaken for an old one.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Iterable

ProcKey = tuple[int, int]   # (pid, starttime in clock ticks since boot)

_PROC = "/proc"
PR_SET_PDEATHSIG = 1

# -- parent-death signal -----------------------------------------------------------------------------

try:
    _prctl: Callable[..., int] | None = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):   # not Linux (or no libc symbol table): no parent-death signal
    _prctl = None


def set_parent_death_signal(sig: int) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (``PR_SET_PDEATHSIG``).

    Linux sends it when the *thread* that forked us exits, not only the whole parent process: a
    process started from a short-lived thread gets it when that thread ends. It survives ``execve``
    (except of set-uid programs). Returns whether it was armed.
    """
    if _prctl is None:
        return False
    try:
        return _prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except OSError:
        return False


def parent_death_preexec(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` for ``subprocess``/``asyncio`` that arms the parent-death signal in the child
    and kills the child at once if the parent already died between the fork and the arming."""
    parent = os.getpid()

    def preexec() -> None:
        set_parent_death_signal(sig)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or ``None`` if it is gone or a zombie."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    if not fields or fields[0] in (b"Z", b"X"):
        return None
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Signal a whole process group; False if it no longer exists (or is not ours)."""
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _read_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, session id, starttime) for every process visible in /proc."""
    table: dict[int, tuple[int, int, int]] = {}
    try:
        names = os.listdir(_PROC)
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"{_PROC}/{name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2:].split()
        try:
            table[int(name)] = (int(fields[1]), int(fields[3]), int(fields[19]))
        except (IndexError, ValueError):
            continue
    return table


def session_members(root: int, descendants: bool = True) -> set[ProcKey]:
    """Processes in ``root``'s session or (with ``descendants``) descending from ``root`` or from a
    session member, excluding ``root`` itself."""
    table = _read_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _sid, _st) in table.items():
        children.setdefault(ppid, []).append(pid)
    found = {pid for pid, (_pp, sid, _st) in table.items() if sid == root}
    stack = [root, *found] if descendants else []
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    found.discard(root)
    return {(pid, table[pid][2]) for pid in found}


def kill_members(root: int, spare: Iterable[ProcKey] = (), sig: int = signal.SIGKILL,
                 rounds: int = 20, descendants: bool = True) -> set[ProcKey]:
    """Send ``sig`` to every member of ``root``'s session except ``spare``, until none are left.

    Rescans after each round so processes forked while we were killing are caught too (with
    SIGKILL a killed parent cannot fork again, so this converges in a few rounds). With a catchable
    signal only one round is made. Returns every process signalled.
    """
    spared = set(spare)
    signalled: set[ProcKey] = set()
    for _ in range(rounds if sig == signal.SIGKILL else 1):
        targets = session_members(root, descendants) - spared - signalled
        targets = {key for key in targets if not _is_zombie(key[0])}
        if not targets:
            break
        for pid, _st in targets:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        signalled |= targets
        if sig == signal.SIGKILL:
            time.sleep(0.005)
    return signalled


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (parents before children), from one /proc snapshot taken before
    anything is killed, so no link of the chain is lost."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _sid, _st) in _read_table().items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    stack = [root]
    while stack:
        for pid in children.get(stack.pop(), []):
            found.append(pid)
            stack.append(pid)
    return found


def kill_descendants(root: int) -> None:
    """SIGKILL every descendant of ``root`` and, for those leading another process group (a tool's
    session), that whole group -- never ``root``'s own group."""
    try:
        own_group = os.getpgid(root)
    except (ProcessLookupError, PermissionError):
        own_group = -1
    for pid in descendants(root):
        try:
            group = os.getpgid(pid)
            if group != own_group:
                os.killpg(group, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return True
    return data[data.rfind(b")") + 2:data.rfind(b")") + 3] in (b"Z", b"X")


def kill_session(root: int, include_root: bool = True, descendants: bool = True) -> None:
    """SIGKILL the shell's process group, every member of its session and (unless it was already
    reaped, ``include_root=False``) the shell itself. ``descendants=False`` leaves out processes that
    are only found as descendants of ``root`` (when ``root`` may be a reused pid)."""
    if include_root:
        try:
            os.kill(root, signal.SIGSTOP)   # a stopped shell cannot start anything new while we sweep
        except (ProcessLookupError, PermissionError):
            pass
    kill_group(root)
    kill_members(root, descendants=descendants)
    if include_root:
        try:
            os.kill(root, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


# -- the watchdog process ----------------------------------------------------------------------------


def kill_registered(shells: dict[int, int]) -> None:
    """Kill each registered shell session (pid -> start time); a shell whose pid now belongs to another
    process (or to nobody) only has its group and session members killed, never that process."""
    for pid, started in list(shells.items()):
        alive = start_time(pid) == started
        kill_session(pid, include_root=alive, descendants=alive)


def watch(host: int, fd: int = 0, poll: float = 1.0) -> None:
    """The watchdog's main loop: keep the sessions the host registers on ``fd`` (lines ``+ PID START``
    and ``- PID``) and kill them all when the host is gone: end of file on ``fd`` (the host's end is
    closed when it dies, however it dies), our parent-death signal (SIGTERM), or a changed parent pid
    (checked every ``poll`` seconds, in case a forked child of the host still holds the pipe)."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):   # the host's terminal or group is not ours
        signal.signal(sig, signal.SIG_IGN)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGTERM, lambda _s, _f: None)   # wakes select; acted on only when the host is gone
    set_parent_death_signal(signal.SIGTERM)
    shells: dict[int, int] = {}
    pending = [b""]

    def read() -> bool:
        data = os.read(fd, 65536)
        *lines, pending[0] = (pending[0] + data).split(b"\n")
        for line in lines:
            parts = line.split()
            try:
                if len(parts) == 3 and parts[0] == b"+":
                    shells[int(parts[1])] = int(parts[2])
                elif len(parts) == 2 and parts[0] == b"-":
                    shells.pop(int(parts[1]), None)
            except ValueError:
                continue
        return bool(data)

    while os.getppid() == host:
        ready, _, _ = select.select([fd, wake_r], [], [], poll)
        if wake_r in ready:
            os.read(wake_r, 512)
        if fd in ready and not read():
            break
    while select.select([fd], [], [], 0)[0] and read():   # registrations still in the pipe
        pass
    kill_registered(shells)


if __name__ == "__main__" and sys.argv[1:2] == ["--watch"]:
    watch(int(sys.argv[2]))
