"""One exception root for the installer, and the one table that maps exceptions to exit codes.

Every error a user can hit is a ``DeployError`` subclass whose ``str()`` is one line saying what
happened, and whose ``hint`` is the command (or action) that fixes it. The CLI prints
``error: <message>`` and ``hint: <hint>`` and exits with ``exit_code``; nothing else decides codes.
"""

from __future__ import annotations

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
