"""Finding and killing the processes that belong to a bash session (Linux ``/proc``).

A process belongs to the session of shell ``root`` when it is in the shell's kernel session (it was
started with ``start_new_session=True``, so the session id is the shell's pid) or when it descends
from the shell through a chain of living parents (this also catches children that called ``setsid``
themselves). Processes that both left the session and lost their parent (a daemon's double fork)
cannot be found this way; that is a documented limit.

Each process is identified by ``(pid, starttime)`` so a recycled pid is never mistaken for an old one.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable

ProcKey = tuple[int, int]   # (pid, starttime in clock ticks since boot)

_PROC = "/proc"


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


def session_members(root: int) -> set[ProcKey]:
    """Processes in ``root``'s session or descending from ``root``, excluding ``root`` itself."""
    table = _read_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _sid, _st) in table.items():
        children.setdefault(ppid, []).append(pid)
    found = {pid for pid, (_pp, sid, _st) in table.items() if sid == root}
    stack = [root, *found]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    found.discard(root)
    return {(pid, table[pid][2]) for pid in found}


def kill_members(root: int, spare: Iterable[ProcKey] = (), sig: int = signal.SIGKILL,
                 rounds: int = 20) -> set[ProcKey]:
    """Send ``sig`` to every member of ``root``'s session except ``spare``, until none are left.

    Rescans after each round so processes forked while we were killing are caught too (with
    SIGKILL a killed parent cannot fork again, so this converges in a few rounds). With a catchable
    signal only one round is made. Returns every process signalled.
    """
    spared = set(spare)
    signalled: set[ProcKey] = set()
    for _ in range(rounds if sig == signal.SIGKILL else 1):
        targets = session_members(root) - spared - signalled
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


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return True
    return data[data.rfind(b")") + 2:data.rfind(b")") + 3] in (b"Z", b"X")


def kill_session(root: int, include_root: bool = True) -> None:
    """SIGKILL the shell's process group, every member of its session and (unless it was already
    reaped, ``include_root=False``) the shell itself."""
    if include_root:
        try:
            os.kill(root, signal.SIGSTOP)   # a stopped shell cannot start anything new while we sweep
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.killpg(root, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    kill_members(root)
    if include_root:
        try:
            os.kill(root, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

