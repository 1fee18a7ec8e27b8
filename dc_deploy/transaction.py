"""The one place the target tree changes: backup -> journal -> apply -> verify -> commit | restore.

``run`` takes a list of changes (each path's wanted state and where its bytes come from) and
carries them out as one transaction under the caller's lock:

1. back up every touched path (files copied and hashed; absent paths and new directories recorded);
2. write the journal (fsynced): from here on a crash is rolled back by the next command;
3. apply each change atomically (temp file in the same directory, fsync, rename, fsync directory);
4. run verification (a child process) unless disabled;
5. commit: journal marked COMMITTED, backup marked COMMITTED, journal removed (the commit point).

Any exception or signal (SIGINT/SIGTERM/SIGHUP) before the commit point rolls every path back from
the backup, marks the backup FAILED (verification) or ROLLED_BACK, and re-raises.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import failpoints, journal
from .backups import Backup, BackupStore
from .context import Context
from .deploy_metrics import record_target
from .errors import DeployError, IntegrityError, Interrupted, VerificationFailedError, filesystem_error
from .fsutil import (
    FileState,
    HashMismatch,
    atomic_copy,
    atomic_symlink,
    atomic_write_bytes,
    file_state,
    make_dirs,
    remove_path,
    sweep_temps,
)
from .journal import Journal
from .manifest import TOGGLES_PATH
from .toggle_store import AUDIT_FILE, append_audit
from .verifyrun import VerifyResult, run_verification

PROGRESS_MIN_BYTES = 1 << 20
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class Change:
    path: str
    after: FileState
    source: Path | None = None
    content: bytes | None = None
    fp_before: str = "before_replace"
    fp_after: str = "after_replace"


@dataclass
class TxOutcome:
    backup: Backup
    verification: VerifyResult | None
    changed: list[str] = field(default_factory=list)


class _SignalGuard:
    """While armed, SIGINT/SIGTERM/SIGHUP raise ``Interrupted``; while disarmed they are only remembered."""

    def __init__(self) -> None:
        self.armed = True
        self.committed = False  # set at the commit point (the COMMITTED journal is on disk)
        self.pending: int | None = None
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, _frame: object) -> None:
        if self.pending is None:
            self.pending = signum
        if self.armed:
            self.armed = False
            raise Interrupted(f"interrupted by {signal.Signals(signum).name}; every change was rolled back",
                              signum=signum)

    @contextmanager
    def installed(self) -> Iterator[_SignalGuard]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        for s in _SIGNALS:
            self._old[s] = signal.signal(s, self._handler)
        try:
            yield self
        finally:
            committed = self.committed
            for sig, h in self._old.items():
                signal.signal(sig, _record_late if committed and _AFTER_COMMIT["defer"] else h)
            if committed and self.pending is not None:
                _AFTER_COMMIT["late"] = self.pending


# After the commit point a signal must not turn a committed change into a failure: while the CLI's
# ``signals_deferred_after_commit()`` is active, signals arriving after a commit are only recorded
# until the command has reported its (successful) outcome.
_AFTER_COMMIT: dict[str, Any] = {"defer": False, "late": None}


def _record_late(signum: int, _frame: object) -> None:
    if _AFTER_COMMIT["late"] is None:
        _AFTER_COMMIT["late"] = signum


@contextmanager
def signals_deferred_after_commit() -> Iterator[dict[str, Any]]:
    """For a process entry point: once a transaction has committed, SIGINT/SIGTERM/SIGHUP wait until the end.

    Yields a dict whose ``"late"`` is the first such signal (or ``None``); the handlers in force on entry
    are back on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield _AFTER_COMMIT
        return
    old = {s: signal.getsignal(s) for s in _SIGNALS}
    _AFTER_COMMIT.update(defer=True, late=None)
    try:
        yield _AFTER_COMMIT
    finally:
        _AFTER_COMMIT["defer"] = False
        for s, h in old.items():
            if h is not None:
                signal.signal(s, h)


def _progress(ctx: Context, total: int, label: str) -> tuple[Callable[[int], None] | None, Callable[[], None]]:
    if not ctx.progress or total < PROGRESS_MIN_BYTES:
        return None, lambda: None
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    bar = Progress(TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=ctx.err,
                   transient=True)
    task = bar.add_task(label, total=total)
    bar.start()
    return (lambda n: bar.advance(task, n)), bar.stop


def _new_dirs(target: Path, changes: list[Change]) -> list[str]:
    out: set[str] = set()
    for c in changes:
        if not c.after.exists:
            continue
        cur = (target / c.path).parent
        while cur != target and not cur.exists():
            out.add(cur.relative_to(target).as_posix())
            cur = cur.parent
    return sorted(out)


def _apply(target: Path, change: Change, on_bytes: Callable[[int], None] | None = None) -> None:
    dst = target / change.path
    hit_before = lambda: failpoints.hit(change.fp_before)  # noqa: E731
    after = change.after
    if after.type == "absent":
        hit_before()
        remove_path(dst)
    else:
        make_dirs(dst.parent, target)
        if after.type == "symlink":
            atomic_symlink(str(after.link), dst, before_replace=hit_before)
        elif change.content is not None:
            atomic_write_bytes(dst, change.content, mode=after.mode, before_replace=hit_before)
        elif change.source is not None:
            try:
                atomic_copy(change.source, dst, mode=int(after.mode or 0o644), expect_sha256=after.sha256,
                            before_replace=hit_before, on_bytes=on_bytes)
            except HashMismatch as exc:
                raise IntegrityError(f"{exc.path} changed while deploying (sha256 {exc.actual[:12]}..., expected "
                                     f"{exc.expected[:12]}...); every change was rolled back",
                                     hint="retry once the sources are stable", path=str(exc.path)) from exc
        else:
            raise DeployError(f"internal: no content for {change.path}")
    failpoints.hit(change.fp_after)


def run(target: Path, store: BackupStore, ctx: Context, *, operation: str, changes: list[Change],
        meta: dict[str, Any], remove_dirs: list[str] | None = None, verify: bool = False,
        verify_timeout: float = 60.0, content_for: Callable[[Backup], dict[str, bytes]] | None = None,
        on_rollback: Callable[[Backup, list[str], BaseException], None] | None = None) -> TxOutcome:
    """Carry out ``changes`` as one transaction (see the module docstring). The caller holds the lock.

    ``on_rollback(backup, paths_put_back, exc)`` is called after a rollback, before the exception propagates.

    ``content_for(backup)`` supplies late content (the receipt names the backup id); its bytes
    replace ``content`` of the matching paths, and their ``after`` states are derived from them.
    """
    current = {c.path: file_state(target / c.path) for c in changes}
    total = sum(s.size or 0 for s in current.values())
    new_dirs = _new_dirs(target, changes)
    guard = _SignalGuard()
    with guard.installed():
        advance, stop = _progress(ctx, total, f"backing up {len(changes)} file(s)")
        try:
            backup = store.create(target, current, stamp=ctx.clock().strftime("%Y%m%d_%H%M%S"),
                                  meta={**meta, "operation": operation, "absent_dirs": new_dirs}, progress=advance)
        except BaseException as exc:
            guard.armed = False  # the target is untouched; the backup marked itself ROLLED_BACK
            if isinstance(exc, OSError):
                raise filesystem_error(exc, "backup failed", "; nothing in the target was changed") from exc
            raise
        finally:
            stop()
        if content_for is not None:
            late = content_for(backup)
            changes = [_with_content(c, late[c.path]) if c.path in late else c for c in changes]
        jr = Journal(backup.id, operation, "APPLYING", str(backup.root), backup.id,
                     [{"path": c.path, "before": backup.files[c.path].as_dict(), "after": c.after.as_dict()}
                      for c in changes],
                     new_dirs, list(remove_dirs or []),
                     {"pid": os.getpid(), "host": ctx.host, "user": ctx.user, "command": ctx.command,
                      "started_at": ctx.now_iso()}, sequence=backup.sequence)
        verification: VerifyResult | None = None
        try:
            journal.write(target, jr)
            failpoints.hit("after_journal")
            incoming = sum(c.source.stat().st_size for c in changes if c.source is not None)
            advance, stop = _progress(ctx, incoming, f"{'restoring' if operation == 'restore' else 'applying'}"
                                                     f" {len(changes)} file(s)")
            try:
                for c in changes:
                    _apply(target, c, advance)
            finally:
                stop()
            if remove_dirs:
                journal.remove_empty_dirs(target, remove_dirs)
            jr.state = "APPLIED"
            journal.write(target, jr)
            if verify:
                verification = run_verification(target, ctx, verify_timeout)
                if not verification.passed:
                    raise VerificationFailedError(
                        f"{verification.summary()}; the previous state was restored from {backup.id}",
                        hint=_verify_hint(verification, verify_timeout, backup.id), backup_id=backup.id)
            if guard.pending is not None:  # a signal whose exception something swallowed still aborts
                raise Interrupted(f"interrupted by {signal.Signals(guard.pending).name}; every change was "
                                  "rolled back", signum=guard.pending)
            guard.armed = False  # from here a signal is only remembered: the commit must not be torn
            jr.state = "COMMITTED"
            journal.write(target, jr)
            guard.committed = True  # the commit point: recovery would finish, never undo, from here on
            store.set_status(backup, "COMMITTED", committed_at=ctx.now_iso())
            journal.remove(target)
            failpoints.hit("after_commit")
            record_target(ctx, target, succeeded=True,
                          verify_s=verification.duration_s if verification is not None else None)
        except BaseException as exc:
            guard.armed = False
            if guard.committed:  # failing after the commit point: the change stays; recovery finishes it
                if isinstance(exc, Exception) and not isinstance(exc, DeployError):
                    raise DeployError(f"{operation} committed (backup {backup.id}), but finishing it failed: {exc}; "
                                      "the next command that takes the lock completes it",
                                      hint="check with --status") from exc
                raise
            changed = _undo(store, backup, target, jr, exc, ctx)
            if on_rollback is not None:
                on_rollback(backup, changed, exc)
            if guard.pending is not None and not isinstance(exc, Interrupted):
                raise Interrupted(f"interrupted by {signal.Signals(guard.pending).name}; every change was "
                                  "rolled back", signum=guard.pending) from exc
            if isinstance(exc, VerificationFailedError):
                exc.data["verification"] = verification.as_dict() if verification else None
                record_target(ctx, target, succeeded=False, rolled_back=True,
                              verify_s=verification.duration_s if verification is not None else None)
            if isinstance(exc, OSError):
                raise filesystem_error(exc, f"{operation} failed",
                                       f"; every change was rolled back from {backup.id}") from exc
            raise
        guard.armed = False  # a signal remembered after the commit point is reported by the entry point
    return TxOutcome(backup, verification, [c.path for c in changes])


def _verify_hint(v: VerifyResult, timeout: float, backup_id: str) -> str:
    """What to do after a failed verification, pointing only at output that is really printed."""
    kept = f"(the backup {backup_id} is kept)"
    if v.timed_out:
        return (f"the suite did not finish within --verify-timeout {timeout:g}s: run it by hand to see which check "
                f"hangs ({' '.join(v.command)}), or raise --verify-timeout {kept}")
    if v.failing:
        return f"see the failing checks above; re-run with --no-verify only if you know why {kept}"
    if v.reason:
        return f"run it by hand for the details: {' '.join(v.command)} {kept}"
    if v.output_tail.strip():
        return f"see the verifier's output above; re-run with --no-verify only if you know why {kept}"
    return f"the verifier printed nothing; run it by hand to see why: {' '.join(v.command)} {kept}"


def _with_content(c: Change, data: bytes) -> Change:
    from .fsutil import sha256_bytes

    mode = c.after.mode if c.after.mode is not None else 0o644
    return Change(c.path, FileState("file", sha256=sha256_bytes(data), mode=mode, size=len(data)), None, data,
                  c.fp_before, c.fp_after)


def _undo(store: BackupStore, backup: Backup, target: Path, jr: Journal, exc: BaseException,
          ctx: Context) -> list[str]:
    ctx.log(f"[yellow]rolling back[/] {jr.operation} {jr.txid} ({type(exc).__name__})")
    changed = journal.rollback(target, jr)
    journal.remove(target)
    status = "FAILED" if isinstance(exc, VerificationFailedError) else "ROLLED_BACK"
    store.set_status(backup, status, error=str(exc) or type(exc).__name__, rolled_back_at=ctx.now_iso())
    return changed


def _toggle_values(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _audit_recovered_flip(store: BackupStore, ctx: Context, target: Path, jr: Journal, flipped: dict[str, Any] | None,
                          restored: dict[str, Any] | None, result: str, why: str) -> None:
    """The audit line of a flip that a recovery finished or rolled back (its own command never wrote one)."""
    before, after = (restored or {}), (flipped or {})
    keys = sorted(k for k in set(before) | set(after) if k != "revision" and before.get(k) != after.get(k))
    if not keys:
        return
    append_audit(store.root / AUDIT_FILE, {
        "time": ctx.now_iso(), "target": str(target), "user": ctx.user, "host": ctx.host,
        "old": {k: before.get(k) for k in keys}, "new": {k: after.get(k) for k in keys},
        "revision_old": before.get("revision"), "revision_new": after.get("revision"), "reason": None,
        "backup_id": jr.backup_id, "result": result, "rollback_reason" if result == "rolled_back" else "note": why,
        "command": ctx.command, "original_command": jr.info.get("command")})


@dataclass
class Recovery:
    txid: str
    operation: str
    action: str  # "rolled back" | "finished"
    paths: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"txid": self.txid, "operation": self.operation, "action": self.action, "paths": self.paths}


def recover(target: Path, store: BackupStore, ctx: Context) -> Recovery | None:
    """Finish or roll back an interrupted transaction (the caller holds the lock)."""
    jr = journal.read(target)
    store.sweep(target, live=jr.backup_id if jr else None)
    for d in (target, target / "dc_impl"):  # a crash while writing the first journal leaves its temp file
        sweep_temps(d)
    if jr is None:
        return None
    backup = store.load(Path(jr.backup_root))
    flips_toggles = any(e["path"] == TOGGLES_PATH for e in jr.entries)
    stored_toggles = _toggle_values(Path(jr.backup_root) / "files" / TOGGLES_PATH) if flips_toggles else None
    if jr.state == "COMMITTED":
        if backup is not None and backup.status != "COMMITTED":
            store.set_status(backup, "COMMITTED", committed_at=ctx.now_iso(), recovered=True)
        if flips_toggles:
            _audit_recovered_flip(store, ctx, target, jr, _toggle_values(target / TOGGLES_PATH), stored_toggles,
                                  "committed", "the interrupted command had committed; finished by recovery")
        journal.remove(target)
        ctx.log(f"[yellow]recovered[/]: finished the interrupted {jr.operation} {jr.txid}")
        return Recovery(jr.txid, jr.operation, "finished", [])
    flipped = _toggle_values(target / TOGGLES_PATH) if flips_toggles else None
    changed = journal.rollback(target, jr)
    journal.remove(target)
    if TOGGLES_PATH in changed:
        _audit_recovered_flip(store, ctx, target, jr, flipped, stored_toggles, "rolled_back",
                              f"the command was interrupted (journal state {jr.state}); rolled back by recovery")
    if backup is not None:
        store.set_status(backup, "ROLLED_BACK", error=f"interrupted in state {jr.state}; rolled back by recovery",
                         rolled_back_at=ctx.now_iso())
    ctx.log(f"[yellow]recovered[/]: rolled back the interrupted {jr.operation} {jr.txid} ({len(changed)} path(s))")
    return Recovery(jr.txid, jr.operation, "rolled back", changed)
