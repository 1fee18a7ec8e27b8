"""The intent journal: ``<target>/.dc-streaming-journal.json``.

Written (and fsynced) after the backup is complete and before the first change; removed at commit
(the commit point) or after a rollback. It lists, for every path the transaction touches, the
state before and after, the directories it creates or removes, and where the backup is. A journal
found by the next command is "hot": it is rolled back from the backup (or, when it already says
COMMITTED, finished). Both are idempotent: each path is compared before it is touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import failpoints
from .errors import RecoveryError
from .fsutil import FileState, atomic_copy, atomic_symlink, file_state, fsync_dir, remove_path, sweep_temps

JOURNAL_NAME = ".dc-streaming-journal.json"
STATES = ("APPLYING", "APPLIED", "COMMITTED")
CORRUPT_SUFFIX = ".corrupt-"  # an unreadable journal set aside by --repair: <journal>.corrupt-<n>
REPAIR_HINT = ("run integrate_streaming.py --repair --target DIR: it sets the journal aside (its bytes kept) and "
               "checks the tree against the receipt and the backups")


class JournalUnreadableError(RecoveryError):
    """The journal exists but cannot be parsed: nothing can roll it back; ``--repair`` sets it aside."""

    code = "journal-unreadable"


@dataclass
class Journal:
    txid: str
    operation: str
    state: str
    backup_root: str  # <backup-dir>/<id>
    backup_id: str
    entries: list[dict[str, Any]] = field(default_factory=list)  # {"path", "before", "after"}
    new_dirs: list[str] = field(default_factory=list)
    remove_dirs: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)  # pid, host, command, started_at
    sequence: int | None = None  # the backup's sequence number (the transaction's place in the order)

    def as_dict(self) -> dict[str, Any]:
        return {"format": 1, "txid": self.txid, "operation": self.operation, "state": self.state,
                "backup_root": self.backup_root, "backup_id": self.backup_id, "entries": self.entries,
                "new_dirs": self.new_dirs, "remove_dirs": self.remove_dirs, "info": self.info,
                "sequence": self.sequence}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Journal:
        return cls(d["txid"], d["operation"], d["state"], d["backup_root"], d["backup_id"], list(d["entries"]),
                   list(d.get("new_dirs", [])), list(d.get("remove_dirs", [])), dict(d.get("info", {})),
                   d.get("sequence"))

    def summary(self) -> dict[str, Any]:
        next_step = "finish it" if self.state == "COMMITTED" else "roll it back"
        return {"txid": self.txid, "operation": self.operation, "state": self.state, "backup_id": self.backup_id,
                "sequence": self.sequence, "paths": [e["path"] for e in self.entries], **self.info,
                "message": f"interrupted {self.operation} transaction {self.txid} found (state {self.state}); "
                           f"the next command that takes the lock will {next_step}"}


def journal_path(target: Path) -> Path:
    return target / JOURNAL_NAME


def write(target: Path, journal: Journal) -> None:
    """Durably write the journal (temp + fsync + rename + fsync dir)."""
    from .fsutil import atomic_write_bytes  # local: keep the module graph flat

    atomic_write_bytes(journal_path(target), json.dumps(journal.as_dict(), indent=1).encode(), mode=0o600)


def read(target: Path) -> Journal | None:
    path = journal_path(target)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return Journal.from_dict(json.loads(data))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise JournalUnreadableError(
            f"journal {path} is unreadable ({type(exc).__name__}: {exc}); an interrupted transaction may have "
            "left the target half-changed", hint=REPAIR_HINT, path=str(path)) from exc


def set_aside(target: Path) -> Path:
    """Rename an unreadable journal to ``<journal>.corrupt-<n>`` (first free n), durably; return the new path."""
    path = journal_path(target)
    n = 1
    while True:
        dest = path.with_name(f"{path.name}{CORRUPT_SUFFIX}{n}")
        if not os.path.lexists(dest):
            break
        n += 1
    os.rename(path, dest)
    fsync_dir(target)
    return dest


def remove(target: Path) -> None:
    remove_path(journal_path(target))


def _purge_caches(d: Path) -> None:
    cache = d / "__pycache__"
    if cache.is_dir() and not cache.is_symlink():
        shutil.rmtree(cache, ignore_errors=True)


def remove_empty_dirs(target: Path, rels: list[str]) -> None:
    """rmdir each directory (deepest first) if nothing but bytecode caches is left in it."""
    for rel in sorted(rels, key=lambda r: r.count("/"), reverse=True):
        d = target / rel
        if not d.is_dir() or d.is_symlink():
            continue
        _purge_caches(d)
        with contextlib.suppress(OSError):
            os.rmdir(d)
            fsync_dir(d.parent)


def put_state(target: Path, rel: str, want: FileState, stored: Path | None) -> bool:
    """Make ``target/rel`` be ``want`` (file content from ``stored``); ``False`` if it already was."""
    from .fsutil import make_dirs

    dst = target / rel
    if file_state(dst).same(want):
        return False
    if want.type == "absent":
        remove_path(dst)
        return True
    make_dirs(dst.parent, target)
    if want.type == "symlink":
        atomic_symlink(str(want.link), dst)
    elif want.type == "file":
        if stored is None:
            raise RecoveryError(f"no stored copy of {rel} to restore")
        atomic_copy(stored, dst, mode=int(want.mode or 0o644), expect_sha256=want.sha256)
    else:
        raise RecoveryError(f"cannot restore {rel}: unsupported type {want.type}")
    return True


def rollback(target: Path, journal: Journal) -> list[str]:
    """Put every journaled path back to its ``before`` state from the backup; return the paths changed."""
    backup_root = Path(journal.backup_root)
    changed: list[str] = []
    problems: list[str] = []
    for entry in reversed(journal.entries):
        rel = entry["path"]
        before = FileState.from_dict(entry["before"])
        try:
            if put_state(target, rel, before, backup_root / "files" / rel):
                changed.append(rel)
                failpoints.hit("mid_restore")
        except (OSError, ValueError) as exc:
            problems.append(f"{rel}: {exc}")
    for d in {str(Path(e["path"]).parent) for e in journal.entries} | {"."}:
        sweep_temps(target / d)
    remove_empty_dirs(target, journal.new_dirs)
    if problems:
        raise RecoveryError(
            f"could not roll back {len(problems)} path(s) of transaction {journal.txid}: {'; '.join(problems)}",
            hint=f"fix the cause, then run any command again (the journal {journal_path(target)} is kept)")
    return changed
