"""One exception root for the installer, and the one table that maps exceptions to exit codes.

Every error a user can hit is a ``DeployError`` subclass whose ``str()`` is one line saying what
happened, and whose ``hint`` is the command (or action) that fixes it. The CLI prints
``error: <message>`` and ``hint: <hint>`` and exits with ``exit_code``; nothing else decides codes.
"""

from __future__ import annotations

import errno
import os
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    VERIFY_FAILED = 3
    LOCKED = 4
    DRIFT = 5
    INTEGRITY = 6
    SIGHUP = 129
    SIGINT = 130
    SIGTERM = 143


class DeployError(Exception):
    """Root of every installer error. ``code`` is a stable kebab-case name for docs and JSON."""

    exit_code: ExitCode = ExitCode.ERROR
    code = "deploy-error"

    def __init__(self, message: str, *, hint: str | None = None, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.data = data

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": type(self).__name__,
            "code": self.code,
            "exit_code": int(self.exit_code),
            "message": self.message,
            "hint": self.hint,
        }
        if self.data:
            out["data"] = self.data
        return out


class UsageError(DeployError, ValueError):
    exit_code = ExitCode.USAGE
    code = "usage"


class ManifestError(DeployError, ValueError):
    """The manifest is malformed, violates its schema, or describes an unsafe/impossible release."""

    exit_code = ExitCode.USAGE
    code = "manifest-invalid"


class UnsafePathError(ManifestError):
    code = "unsafe-path"


class TogglesInvalidError(DeployError, ValueError):
    exit_code = ExitCode.USAGE
    code = "toggles-invalid"


class NotInstalledError(DeployError):
    code = "not-installed"


class BackupNotFoundError(DeployError, LookupError):
    exit_code = ExitCode.USAGE
    code = "backup-not-found"


class IntegrityError(DeployError):
    """A content hash does not match what a manifest or a backup promises."""

    exit_code = ExitCode.INTEGRITY
    code = "integrity"


class LockTimeoutError(DeployError, TimeoutError):
    exit_code = ExitCode.LOCKED
    code = "locked"


class DriftError(DeployError):
    exit_code = ExitCode.DRIFT
    code = "drift"


class VerificationFailedError(DeployError):
    """Verification failed and the tree was restored; ``result`` carries the full command result."""

    exit_code = ExitCode.VERIFY_FAILED
    code = "verification-failed"


class Interrupted(DeployError):
    """A signal interrupted a change; the change was rolled back before exiting."""

    code = "interrupted"

    def __init__(self, message: str, *, signum: int, **data: Any) -> None:
        super().__init__(message, hint="re-run the same command when ready", signum=signum, **data)
        self.signum = signum
        self.exit_code = ExitCode(128 + signum) if 128 + signum in ExitCode._value2member_map_ else ExitCode.ERROR


class RecoveryError(DeployError):
    """An interrupted transaction could not be rolled back automatically."""

    code = "recovery-failed"


def exit_code_for(exc: BaseException) -> int:
    """The process exit code for any exception (the CLI's single mapping point)."""
    if isinstance(exc, DeployError):
        return int(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return int(ExitCode.SIGINT)
    return int(ExitCode.ERROR)


class FilesystemError(DeployError):
    """An OS-level failure on a named path (read-only filesystem, immutable file, a directory where a file belongs)."""

    code = "filesystem"


_TEMP_MARK = ".dc-tmp-"  # fsutil.TEMP_MARK (not imported: errors.py depends on nothing of ours)


def _os_error_path(exc: OSError) -> str | None:
    """The path to name: the destination of a rename, and the directory rather than one of our temp files."""
    for name in (exc.filename2, exc.filename):
        if name is None:
            continue
        path = os.fsdecode(name) if isinstance(name, (bytes, str)) else str(name)
        if _TEMP_MARK in os.path.basename(path):
            return os.path.dirname(path) or "."
        return path
    return None


def filesystem_error(exc: OSError, doing: str, after: str = "") -> FilesystemError:
    """Translate ``exc`` into one line naming the path and the fix (``doing``: "deploy failed", "cannot lock", ...)."""
    path = _os_error_path(exc)
    what = exc.strerror or type(exc).__name__
    where = path or "(unknown path)"
    hints = {
        errno.EROFS: f"the filesystem holding {where} is mounted read-only: remount it read-write "
                     "(or pick a writable --target/--backup-dir), then retry",
        errno.EPERM: f"{where} (or its directory) refuses changes even to root: if it is immutable (see "
                     "lsattr -d), clear the flag with chattr -i, then retry",
        errno.EACCES: f"run as a user allowed to write {where}, or fix its permissions, then retry",
        errno.EISDIR: f"{where} is a directory where a file belongs: move it away (mv {where} {where}.bak), "
                      "then retry",
        errno.ENOTDIR: f"a parent of {where} is a file where a directory belongs: move it away, then retry",
        errno.ENOSPC: f"free space on the filesystem holding {where}, then retry",
        errno.EDQUOT: f"free space (disk quota) on the filesystem holding {where}, then retry",
    }
    hint = hints.get(exc.errno or 0, f"check {where}, then retry")
    return FilesystemError(f"{doing}: {where}: {what}{after}", hint=hint, path=path, errno=exc.errno)
