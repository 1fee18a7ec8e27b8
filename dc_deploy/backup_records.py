"""What one backup is on disk: ``backup.json`` (checked before it is trusted), ``identity.json``, order.

``Backup`` is a readable backup; ``Unreadable`` a ``backup_*`` directory whose ``backup.json`` cannot
be used, with the reason and, when its write-once ``identity.json`` is intact, its target and
sequence number. ``order_key`` is the one ordering: by sequence, 1.0.0 backups (none) first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .fsutil import FileState

STATUSES = ("COMMITTED", "FAILED", "ROLLED_BACK", "INCOMPLETE")
UNDONE = ("FAILED", "ROLLED_BACK")  # transactions this installer rolled back itself
META = "backup.json"
IDENTITY = "identity.json"
FILES = "files"
_FILE_TYPES = ("file", "symlink", "absent")


def _is_seq(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _bad_rel(rel: object) -> bool:
    if not isinstance(rel, str) or not rel or "\0" in rel:
        return True
    p = PurePosixPath(rel)
    return p.is_absolute() or any(part in ("..", ".", "") for part in rel.split("/"))


def meta_problem(meta: object, dirname: str) -> str | None:
    """Why ``meta`` (a parsed backup.json) cannot be trusted for a restore, or ``None``."""
    if not isinstance(meta, dict):
        return "backup.json is not a JSON object"
    if meta.get("id") != dirname:
        return f"backup.json names id {meta.get('id')!r}, not its directory's name"
    if meta.get("status") not in STATUSES:
        return f"backup.json has no valid status ({meta.get('status')!r})"
    if not isinstance(meta.get("target"), str):
        return "backup.json names no target"
    if "sequence" in meta and not _is_seq(meta["sequence"]):
        return f"backup.json has an invalid sequence ({meta['sequence']!r})"
    if not isinstance(meta.get("created_at", ""), str):
        return "backup.json has an invalid created_at"
    files = meta.get("files")
    if not isinstance(files, dict):
        return "backup.json has no file list"
    for rel, st in files.items():  # unsafe paths are refused (exit 2) where they are resolved
        if not isinstance(st, dict) or st.get("type") not in _FILE_TYPES:
            return f"backup.json records {rel} with no valid type"
        if st["type"] == "file" and not (isinstance(st.get("sha256"), str) and len(st["sha256"]) == 64
                                         and isinstance(st.get("mode"), int)):
            return f"backup.json records {rel} without a valid sha256 and mode"
        if st["type"] == "symlink" and not isinstance(st.get("link"), str):
            return f"backup.json records the symlink {rel} without its target"
    dirs = meta.get("absent_dirs", [])
    if not isinstance(dirs, list) or any(_bad_rel(d) for d in dirs):
        return "backup.json has an invalid absent_dirs list"
    return None


def order_key(sequence: int | None, created_at: object, ident: str) -> tuple[int, int, str, str]:
    """1.0.0 backups (no sequence) first, by created_at then id; then by sequence."""
    if sequence is None:
        return (0, 0, str(created_at or ""), ident)
    return (1, sequence, "", ident)


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
    def sequence(self) -> int | None:
        seq = self.meta.get("sequence")
        return seq if _is_seq(seq) else None

    @property
    def order(self) -> tuple[int, int, str, str]:
        return order_key(self.sequence, self.meta.get("created_at"), self.id)

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
            "sequence": self.sequence,
            "created_at": m.get("created_at"),
            "status": self.status,
            "error": m.get("error"),
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


@dataclass
class Unreadable:
    """A ``backup_*`` directory whose backup.json cannot be used; ``identity`` is its identity.json, if sound."""

    root: Path
    reason: str
    identity: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return self.root.name

    @property
    def status(self) -> str:
        return "UNREADABLE"

    @property
    def sequence(self) -> int | None:
        return self.identity["sequence"] if self.identity else None

    @property
    def target(self) -> str | None:
        return self.identity["target"] if self.identity else None

    @property
    def order(self) -> tuple[int, int, str, str]:
        # unknown place in the order: shown as the newest, where nobody overlooks it
        return order_key(self.sequence, None, self.id) if self.sequence else (2, 0, "", self.id)

    def could_follow(self, target: Path, backup: Backup) -> bool:
        """Whether this may be a later transaction of ``target`` than ``backup`` (unless proven otherwise)."""
        if self.identity is None:
            return True
        if self.target != str(target):
            return False
        return backup.sequence is None or self.sequence is None or self.sequence > backup.sequence

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "sequence": self.sequence,
                "created_at": self.identity.get("created_at") if self.identity else None,
                "status": "UNREADABLE", "error": self.reason, "operation": None, "manifest_version": None,
                "manifest_versions": None, "components": [], "files": 0, "paths": [], "bytes": 0, "reason": None,
                "user": None, "host": None, "target": self.target, "restored_from": None, "path": str(self.root)}


def read_identity(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((path / IDENTITY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(doc, dict) and _is_seq(doc.get("sequence")) and isinstance(doc.get("target"), str):
        return doc
    return None
