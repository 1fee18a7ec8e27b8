"""Timestamped backups: ``<backup-dir>/<backup_id>/backup.json`` plus ``files/<path>`` copies.

A backup holds exactly the paths one transaction touches, as they were before it: content hash
and mode of files, symlink targets, and which paths (and directories) did not exist. Its status
tells what became of that transaction: INCOMPLETE (running or crashed), COMMITTED, FAILED
(verification failed, restored from this backup), ROLLED_BACK (interrupted and undone).

Order is never taken from the clock: each backup gets a ``sequence`` number, one higher than any
other in the backup directory, allocated under a small lock on the backup directory itself (one
directory may serve several targets, each with its own installer lock) and recorded twice: in
``backup.json`` and in ``identity.json``, which is written once and never rewritten, so a damaged
``backup.json`` still tells which target and place in the order it had. Backups written by 1.0.0
have no sequence; they sort before every sequenced one, by ``created_at`` then id.

A ``backup_*`` directory whose ``backup.json`` cannot be read or is malformed is ``Unreadable``:
listed as UNREADABLE with the reason, and it blocks every restore whose chain it could be part of.
"""


from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from filelock import Timeout, UnixFileLock

from . import failpoints
from .backup_records import (
    FILES,
    IDENTITY,
    META,
    STATUSES,
    UNDONE,
    Backup,
    Unreadable,
    meta_problem,
    order_key,
    read_identity,
)
from .errors import BackupNotFoundError, DeployError, IntegrityError, LockTimeoutError, UsageError
from .fsutil import TEMP_MARK, FileState, atomic_copy, atomic_write_bytes, fsync_dir, sha256_file

SEQ_FILE = ".dc-sequence"  # the last sequence number handed out in this backup directory
SEQ_LOCK = ".dc-sequence.lock"  # guards SEQ_FILE and the publication of a new backup
SEQ_LOCK_TIMEOUT = 60.0

__all__ = ["FILES", "IDENTITY", "META", "SEQ_FILE", "SEQ_LOCK", "STATUSES", "Backup", "BackupStore", "Unreadable",
           "order_key"]


class BackupStore:
    """All backups under one directory; ``for_target`` filters by the recorded target path."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # ---- creation -------------------------------------------------------------------------------
    @staticmethod
    def _tag(target: Path) -> str:
        return hashlib.sha256(str(target).encode()).hexdigest()[:12]

    @contextlib.contextmanager
    def _sequence_lock(self) -> Iterator[None]:
        """The backup directory's own lock: writers of different targets (different installer locks)
        may share one backup directory, and each new backup must get a higher number than all others."""
        path = self.root / SEQ_LOCK
        if path.is_symlink():
            raise DeployError(f"lock file {path} is a symlink; refusing to follow it",
                              hint=f"remove the symlink ({path}) and retry")
        lock = UnixFileLock(path, timeout=SEQ_LOCK_TIMEOUT, fallback_to_soft=False, preserve_lock_file=True,
                            mode=0o644)
        try:
            lock.acquire()
        except Timeout as exc:
            raise LockTimeoutError(f"could not lock the backup directory {self.root} within {SEQ_LOCK_TIMEOUT:g}s",
                                   hint="another installer holds it; retry when it is done") from exc
        try:
            yield
        finally:
            lock.release()

    def _read_counter(self) -> int:
        try:
            value = int((self.root / SEQ_FILE).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return 0
        return max(value, 0)

    def _next_sequence(self) -> int:
        """One more than the counter file and than any sequence on disk (the counter may be missing,
        corrupt or older than the directory's content, e.g. restored from a copy). Under ``_sequence_lock``."""
        highest = self._read_counter()
        readable, unreadable = self.scan()
        highest = max([highest, *(b.sequence or 0 for b in readable), *(u.sequence or 0 for u in unreadable)])
        seq = highest + 1
        atomic_write_bytes(self.root / SEQ_FILE, f"{seq}\n".encode(), mode=0o644)
        return seq

    def _publish(self, staging: Path, backup: Backup, stamp: str) -> None:
        """Give the staging directory (metadata inside) the next sequence number and the first free id."""
        with self._sequence_lock():
            seq = self._next_sequence()
            backup.meta["sequence"] = seq
            identity = {"sequence": seq, "target": backup.meta["target"], "created_at": backup.meta.get("created_at")}
            atomic_write_bytes(staging / IDENTITY, (json.dumps(identity, indent=2) + "\n").encode(), mode=0o644)
            self._publish_as(staging, backup, stamp)

    def _publish_as(self, staging: Path, backup: Backup, stamp: str) -> None:
        base = f"backup_{stamp}"
        for n in range(0, 100000):
            name = base if n == 0 else f"{base}_{n:03d}"
            if (self.root / name).exists():
                continue
            backup.meta["id"] = name
            self._write_meta(Backup(staging, backup.meta))
            try:
                os.rename(staging, self.root / name)  # fails if a backup took that id meanwhile
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    continue
                raise
            fsync_dir(self.root)
            backup.root = self.root / name
            return
        raise DeployError(f"cannot allocate a backup id under {self.root}")

    def create(self, target: Path, states: dict[str, FileState], *, stamp: str, meta: dict[str, Any],
               progress: Callable[[int], None] | None = None) -> Backup:
        """Copy every existing path in ``states`` (taken just before) and record the rest as absent.

        The directory is built under a staging name tagged with the target and only appears as
        ``backup_<stamp>`` once its ``backup.json`` exists, so a crash never leaves an anonymous backup.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".stage-{self._tag(target)}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
        os.mkdir(staging)
        backup = Backup(staging, {**meta, "format": 1, "id": None, "status": "INCOMPLETE",
                                  "target": str(target), "files": {}, "bytes": 0})
        try:
            self._publish(staging, backup, stamp)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        try:
            self._copy_all(backup, target, states, progress)
        except BaseException as exc:
            with contextlib.suppress(OSError):  # the disk that failed the copy may fail this too
                self.set_status(backup, "ROLLED_BACK", error=f"backup interrupted: {exc or type(exc).__name__}")
            raise
        return backup

    def sweep(self, target: Path, live: str | None) -> None:
        """After a crash: drop this target's staging dirs, half-deleted backups, interrupted metadata
        updates, and temp files inside unfinished backups (``live``: the backup a hot journal still
        needs, whose stored files are left alone)."""
        if not self.root.is_dir():
            return
        tag = self._tag(target)
        counter_tmp = f".{SEQ_FILE}{TEMP_MARK}"
        stale: list[str] = []
        for entry in list(os.scandir(self.root)):
            if entry.name.startswith(f".stage-{tag}") or entry.name.startswith(".deleting-"):
                shutil.rmtree(entry.path, ignore_errors=True)
            elif entry.name.startswith(counter_tmp) and entry.is_file(follow_symlinks=False):
                stale.append(entry.path)
        if stale:  # a counter update cut short; a writer of another target may be mid-update: wait for it
            with self._sequence_lock():
                for path in stale:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
        for b in self.for_target(target):
            # a status update (backup.json rewritten atomically) cut short leaves its temp file at the
            # top of any backup, whatever the status it was moving to; only the lock holder writes there
            for entry in list(os.scandir(b.root)):
                if TEMP_MARK in entry.name and entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
            if b.status in ("INCOMPLETE", "ROLLED_BACK") and b.id != live:
                for dirpath, _dirs, files in os.walk(b.root):
                    for name in files:
                        if TEMP_MARK in name:
                            with contextlib.suppress(FileNotFoundError):
                                os.unlink(os.path.join(dirpath, name))

    def _copy_all(self, backup: Backup, target: Path, states: dict[str, FileState],
                  progress: Callable[[int], None] | None) -> None:
        total = 0
        records: dict[str, dict[str, Any]] = {}
        for rel in sorted(states):
            st = states[rel]
            if st.type == "file":
                dst = backup.stored(rel)
                dst.parent.mkdir(parents=True, exist_ok=True)
                digest = atomic_copy(target / rel, dst, mode=0o600, on_bytes=progress)
                st = FileState("file", sha256=digest, mode=st.mode, size=dst.stat().st_size)
                total += st.size or 0
                failpoints.hit("mid_backup")
            elif st.type not in ("symlink", "absent"):
                raise UsageError(f"cannot back up {target / rel}: it is a {st.type}, not a file or symlink",
                                 hint="move it out of the way and retry")
            records[rel] = st.as_dict()
        backup.meta["files"] = records
        backup.meta["bytes"] = total
        self._write_meta(backup)

    def _write_meta(self, backup: Backup) -> None:
        atomic_write_bytes(backup.root / META, (json.dumps(backup.meta, indent=2) + "\n").encode(), mode=0o644)

    def set_status(self, backup: Backup, status: str, **extra: Any) -> None:
        assert status in STATUSES
        backup.meta["status"] = status
        backup.meta.update(extra)
        self._write_meta(backup)

    # ---- reading ---------------------------------------------------------------------------------
    @staticmethod
    def read_dir(path: Path) -> Backup | Unreadable:
        """The backup in directory ``path``, or why it cannot be used."""
        try:
            raw = (path / META).read_bytes()
        except FileNotFoundError:
            return Unreadable(path, f"{META} is missing", read_identity(path))
        except OSError as exc:
            return Unreadable(path, f"{META} cannot be read ({exc.strerror or exc})", read_identity(path))
        try:
            meta = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            why = "is empty" if not raw.strip() else f"is not valid JSON ({exc})"
            return Unreadable(path, f"{META} {why}", read_identity(path))
        identity = read_identity(path)
        problem = meta_problem(meta, path.name)
        if problem is None and identity is not None and (identity["sequence"], identity["target"]) != (
                meta.get("sequence"), meta["target"]):
            problem = (f"backup.json (sequence {meta.get('sequence')}, target {meta['target']}) disagrees with "
                       f"{IDENTITY} (sequence {identity['sequence']}, target {identity['target']})")
        if problem is not None:
            return Unreadable(path, problem, identity)
        return Backup(path, meta)

    def load(self, path: Path) -> Backup | None:
        """The readable backup at ``path``, else ``None``."""
        if not path.is_dir():
            return None
        found = self.read_dir(path)
        return found if isinstance(found, Backup) else None

    def scan(self) -> tuple[list[Backup], list[Unreadable]]:
        """Every ``backup_*`` directory, readable ones and unreadable ones, each list in backup order."""
        if not self.root.is_dir():
            return [], []
        good: list[Backup] = []
        bad: list[Unreadable] = []
        for p in self.root.iterdir():
            if p.name.startswith("backup_") and p.is_dir() and not p.is_symlink():
                found = self.read_dir(p)
                if isinstance(found, Backup):
                    good.append(found)
                else:
                    bad.append(found)
        return sorted(good, key=lambda b: b.order), sorted(bad, key=lambda b: b.order)

    def all(self) -> list[Backup]:
        """Every readable backup, oldest first (by sequence; 1.0.0 backups before all others)."""
        return self.scan()[0]

    def for_target(self, target: Path) -> list[Backup]:
        return [b for b in self.all() if b.meta.get("target") == str(target)]

    def unreadable(self, target: Path | None = None) -> list[Unreadable]:
        """Unreadable backups (of ``target``: those not proven to belong to another target)."""
        bad = self.scan()[1]
        return [u for u in bad if target is None or u.target in (None, str(target))]

    def listing(self, target: Path) -> list[Backup | Unreadable]:
        """The target's backups and the unreadable ones that may be its, oldest first."""
        readable, bad = self.scan()
        mine: list[Backup | Unreadable] = [b for b in readable if b.meta.get("target") == str(target)]
        mine += [u for u in bad if u.target in (None, str(target))]
        return sorted(mine, key=lambda b: b.order)

    def get(self, target: Path, ident: str) -> Backup:
        mine = self.for_target(target)
        if ident == "latest":
            good = [b for b in mine if b.status == "COMMITTED"]
            if not good:
                raise BackupNotFoundError(f"no COMMITTED backup of {target} in {self.root}",
                                          hint="list them with --list-backups, then --restore ID")
            return good[-1]
        for b in mine:
            if b.id == ident:
                return b
        path = self.root / ident
        if ident.startswith("backup_") and "/" not in ident and path.is_dir() and not path.is_symlink():
            other = self.read_dir(path)
            if isinstance(other, Unreadable):
                raise IntegrityError(f"backup {ident} is unreadable: {other.reason}; nothing was changed",
                                     hint="pick another backup with --list-backups (see 'Unreadable backups' in "
                                          "docs/operations.md)", backup=ident, path=str(path / META))
            raise BackupNotFoundError(f"backup {ident} belongs to {other.meta.get('target')}, not {target}",
                                      hint="pass the matching --target")
        raise BackupNotFoundError(f"no backup {ident!r} of {target} in {self.root}",
                                  hint="list them with --list-backups (and check --backup-dir)")

    def restore_chain(self, target: Path, backup: Backup) -> list[Backup]:
        """``backup`` and every later backup of ``target`` not known to be undone, oldest first (by sequence).

        Restoring ``backup`` means undoing its transaction and every later one that was kept;
        FAILED and ROLLED_BACK transactions were already undone, so their backups add nothing. An
        INCOMPLETE one is kept in the chain: its fate is unknown, and its recorded states are
        still those of the tree just before it. Any unreadable backup that may be a later one of
        ``target`` (its identity.json does not prove otherwise) refuses the restore (exit 6):
        skipping it would leave its transaction's files in the tree.
        """
        blocking = [u for u in self.unreadable(target) if u.could_follow(target, backup)]
        if blocking:
            names = ", ".join(f"{u.id} ({u.reason}; " + (f"sequence {u.sequence}, a later transaction of this target)"
                                                          if u.identity else "target and order unknown)")
                              for u in blocking)
            if all(u.identity for u in blocking):
                hint = ("its transaction cannot be undone without its record: repair its backup.json, or restore a "
                        "backup newer than it (see 'Unreadable backups' in docs/operations.md)")
            else:
                hint = (f"move it out of {self.root} only if it belongs to another target or is older than "
                        f"{backup.id} (see 'Unreadable backups' in docs/operations.md)")
            raise IntegrityError(
                f"cannot restore {backup.id}: unreadable backup(s) that may be part of its restore chain: "
                f"{names}; nothing was changed", hint=hint, backup=blocking[0].id,
                unreadable=[u.id for u in blocking])
        mine = self.for_target(target)
        later = [b for b in mine if b.order > backup.order]
        return [backup, *(b for b in later if b.status not in UNDONE)]

    # ---- integrity -------------------------------------------------------------------------------
    def check(self, backup: Backup) -> None:
        """Every stored file is present and has its recorded hash; ``IntegrityError`` names the first bad one."""
        for rel, st in sorted(backup.files.items()):
            if st.type != "file":
                continue
            stored = backup.stored(rel)
            try:
                actual = sha256_file(stored)
            except OSError as exc:
                raise IntegrityError(f"backup {backup.id} is damaged: {rel} is unreadable ({exc.strerror})",
                                     hint="pick another backup with --list-backups", path=rel) from exc
            if actual != st.sha256:
                raise IntegrityError(
                    f"backup {backup.id} is corrupt: {rel} has sha256 {actual[:12]}..., recorded {str(st.sha256)[:12]}...;"
                    " nothing was changed",
                    hint="pick another backup with --list-backups", path=rel, backup=backup.id)

    # ---- pruning -----------------------------------------------------------------------------------
    def prune_plan(self, target: Path, keep: int) -> list[Backup]:
        """Backups that ``--prune-backups --keep N`` deletes: all but the newest N and the newest COMMITTED
        (newest by sequence). Unreadable backups are never deleted: what they hold is unknown."""
        if keep < 0:
            raise UsageError("--keep must be >= 0", hint="pass --keep N with N >= 0")
        mine = self.for_target(target)
        protected = {b.id for b in mine[len(mine) - keep:]} if keep else set()
        committed = [b for b in mine if b.status == "COMMITTED"]
        if committed:
            protected.add(committed[-1].id)
        return [b for b in mine if b.id not in protected]

    def delete(self, backups: Iterable[Backup]) -> None:
        for b in backups:
            # Rename first so a crash never leaves a half-deleted backup that still looks valid.
            doomed = b.root.with_name(f".deleting-{b.root.name}")
            with contextlib.suppress(FileNotFoundError):
                os.rename(b.root, doomed)
            shutil.rmtree(doomed, ignore_errors=True)
        if self.root.is_dir():
            fsync_dir(self.root)
