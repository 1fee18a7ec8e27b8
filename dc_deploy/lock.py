"""The one lock for deploy, restore and toggle writes: ``<target>/.dc-streaming.lock``.

``filelock.UnixFileLock`` (kernel flock, released when the process dies) on a sidecar file that is
never deleted and never replaced; a symlink planted at that path is refused. Right after the
kernel lock is taken, the holder (pid, host, user, command, time) is written into the lock file so a
waiter that times out can say who holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from filelock import Timeout, UnixFileLock

from .context import Context
from .errors import DeployError, LockTimeoutError, filesystem_error

LOCK_NAME = ".dc-streaming.lock"


def lock_path(target: Path) -> Path:
    return target / LOCK_NAME


def read_holder(path: Path) -> dict[str, object] | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        data = os.read(fd, 65536)
    finally:
        os.close(fd)
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def live_holder(target: Path) -> dict[str, object] | None:
    """Who holds the target's lock right now (``{}`` if unknown), or ``None`` when nobody does.

    Read-only: never creates the lock file; tries a shared lock without blocking and drops it at once,
    so a holder is never disturbed (a waiter polls and simply retries).
    """
    path = lock_path(target)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return read_holder(path) or {}
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _describe(holder: dict[str, object] | None) -> str:
    if not holder:
        return "holder unknown"
    return (f"held by pid {holder.get('pid')} on host {holder.get('host')} (user {holder.get('user')}) "
            f"since {holder.get('since')}: {holder.get('command')}")


@contextlib.contextmanager
def target_lock(target: Path, ctx: Context, timeout: float) -> Iterator[None]:
    """Hold the target's lock; ``LockTimeoutError`` (exit 4) with the holder after ``timeout`` seconds."""
    path = lock_path(target)
    if path.is_symlink():
        raise DeployError(f"lock file {path} is a symlink; refusing to follow it",
                          hint=f"remove the symlink ({path}) and retry")
    holder = json.dumps({"pid": os.getpid(), "host": ctx.host, "user": ctx.user,
                         "command": ctx.command, "since": ctx.now_iso()}).encode()

    def record_holder(fd: int) -> None:
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder, 0)

    lock = UnixFileLock(path, timeout=max(timeout, 0), fallback_to_soft=False, preserve_lock_file=True,
                        on_acquired=record_holder, mode=0o644)
    try:
        lock.acquire()
    except Timeout as exc:
        raise LockTimeoutError(
            f"could not lock {target} within {timeout:g}s: {_describe(read_holder(path))}",
            hint="wait for that command to finish (or raise --lock-timeout), then retry",
            holder=read_holder(path)) from exc
    except OSError as exc:  # a directory at the lock path, a read-only or immutable target, ...
        raise filesystem_error(exc, "cannot take the lock", "; nothing was changed") from exc
    try:
        yield
    finally:
        lock.release()
