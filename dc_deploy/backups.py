"""Timestamped backups: ``<backup-dir>/<backup_id>/backup.json`` plus ``files/<path>`` copies.

A backup holds exactly the paths one transaction touches, as they were before it: content hash
and mode of files, symlink targets, and which paths (and directories) did not exist. Its status
tells what became of that transaction: INCOMPLETE (running or crashed), COMMITTED, FAILED
(verification failed, restored from this backup), ROLLED_BACK (interrupted and undone).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import failpoints
from .errors import BackupNotFoundError, DeployError, IntegrityError, UsageError
from .fsutil import TEMP_MARK, FileState, atomic_copy, atomic_write_bytes, fsync_dir, sha256_file

STATUSES = ("COMMITTED", "FAILED", "ROLLED_BACK", "INCOMPLETE")
META = "backup.json"
FILES = "files"


@dataclass
class Backup:
    root: Path  # the backup directory (<backup-dir>/<id>)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    @property
    def status(self) -> str:
        return str(self.meta.get("status", "INCOMPLETE"))

    @property
    def files(self) -> dict[str, FileState]:
        return {p: FileState.from_dict(d) for p, d in self.meta.get("files", {}).items()}

    def stored(self, rel: str) -> Path:
        return self.root / FILES / rel

    def summary(self) -> dict[str, Any]:
        m = self.meta
        files = m.get("files", {})
        return {
            "id": self.id,
            "created_at": m.get("created_at"),
            "status": self.status,
            "operation": m.get("operation"),
            "manifest_version": m.get("manifest_version"),
            "manifest_versions": m.get("manifest_versions"),
            "components": m.get("components", []),
            "files": len(files),
            "paths": sorted(files),
            "bytes": m.get("bytes", 0),
            "reason": m.get("reason"),
            "user": m.get("user"),
            "host": m.get("host"),
            "target": m.get("target"),
            "restored_from": m.get("restored_from"),
            "path": str(self.root),
        }


class BackupStore:
    """All backups under one directory; ``for_target`` filters by the recorded target path."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # ---- creation -------------------------------------------------------------------------------
    @staticmethod
    def _tag(target: Path) -> str:
        return hashlib.sha256(str(target).encode()).hexdigest()[:12]

    def _publish(self, staging: Path, backup: Backup, stamp: str) -> None:
        """Rename the staging directory (metadata already inside) to the first free backup id."""
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
        for entry in list(os.scandir(self.root)):
            if entry.name.startswith(f".stage-{tag}") or entry.name.startswith(".deleting-"):
                shutil.rmtree(entry.path, ignore_errors=True)
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
    def _load(self, path: Path) -> Backup | None:
        try:
            meta = json.loads((path / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return Backup(path, meta) if isinstance(meta, dict) and "id" in meta else None

    def all(self) -> list[Backup]:
        if not self.root.is_dir():
            return []
        found = (self._load(p) for p in self.root.iterdir() if p.name.startswith("backup_") and p.is_dir())
        return sorted((b for b in found if b), key=lambda b: (str(b.meta.get("created_at", "")), b.id))

    def for_target(self, target: Path) -> list[Backup]:
        return [b for b in self.all() if b.meta.get("target") == str(target)]

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
        other = self._load(self.root / ident)
        if other is not None:
            raise BackupNotFoundError(f"backup {ident} belongs to {other.meta.get('target')}, not {target}",
                                      hint="pass the matching --target")
        raise BackupNotFoundError(f"no backup {ident!r} of {target} in {self.root}",
                                  hint="list them with --list-backups (and check --backup-dir)")

    def restore_chain(self, target: Path, backup: Backup) -> list[Backup]:
        """``backup`` and every later COMMITTED backup of ``target``, oldest first.

        Restoring ``backup`` means undoing its transaction and every later one that was kept;
        FAILED and ROLLED_BACK transactions were already undone, so their backups add nothing.
        """
        mine = self.for_target(target)
        later = mine[mine.index(backup) + 1:] if backup in mine else []
        return [backup, *(b for b in later if b.status == "COMMITTED")]

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
        """Backups that ``--prune-backups --keep N`` deletes: all but the newest N and the newest COMMITTED."""
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
