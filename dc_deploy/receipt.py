"""``<target>/dc_impl/receipt.json``: the installed-state record (read by the verification suite too).

Shape (a fixed contract): ``{"format": 1, "name", "version", "components": [ids], "files":
{"<path>": {"sha256", "mode"}}, "project_commit", "installed_at", "backup_id", "target_git", "python",
"toggles"}``. ``python`` is the agent's interpreter given with ``--python`` (verification runs there),
or null; ``toggles`` is the toggles document the same transaction wrote (``--repair`` rebuilds an
invalid toggles file from it and the audit log). Receipts written before they existed read as null.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dc_impl.contract import RECEIPT_FORMAT, RECEIPT_PATH

from .errors import DeployError


class ReceiptError(DeployError):
    code = "receipt-invalid"


@dataclass(frozen=True)
class Receipt:
    name: str
    version: str
    components: tuple[str, ...]
    files: dict[str, dict[str, Any]]
    project_commit: str | None = None
    installed_at: str | None = None
    backup_id: str | None = None
    target_git: dict[str, Any] | None = None
    python: str | None = None
    toggles: dict[str, Any] | None = None  # not part of stable(): toggle changes are their own action

    def stable(self) -> tuple[Any, ...]:
        """What a re-run compares: everything but time, backup id and git details."""
        return (self.name, self.version, tuple(sorted(self.components)),
                json.dumps(self.files, sort_keys=True), self.python)

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": RECEIPT_FORMAT,
            "name": self.name,
            "version": self.version,
            "components": list(self.components),
            "files": {k: self.files[k] for k in sorted(self.files)},
            "project_commit": self.project_commit,
            "installed_at": self.installed_at,
            "backup_id": self.backup_id,
            "target_git": self.target_git,
            "python": self.python,
            "toggles": self.toggles,
        }

    def to_bytes(self) -> bytes:
        return (json.dumps(self.as_dict(), indent=2) + "\n").encode()


def receipt_path(target: Path) -> Path:
    return target / RECEIPT_PATH


def parse_receipt(data: bytes, where: str) -> Receipt:
    try:
        doc = json.loads(data)
        files = {str(k): {"sha256": str(v["sha256"]), "mode": int(v["mode"])} for k, v in doc["files"].items()}
        return Receipt(str(doc["name"]), str(doc["version"]), tuple(doc["components"]), files,
                       doc.get("project_commit"), doc.get("installed_at"), doc.get("backup_id"),
                       doc.get("target_git"), _python(doc.get("python")),
                       doc["toggles"] if isinstance(doc.get("toggles"), dict) else None)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReceiptError(f"{where} is not a valid receipt: {exc}",
                           hint="restore a backup with --restore latest, or re-run --integrate --on-drift=overwrite") from exc


def _python(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise TypeError(f"python must be a path or null, not {value!r}")
    return value


def read_receipt(target: Path) -> Receipt | None:
    path = receipt_path(target)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ReceiptError(f"cannot read {path}: {exc}") from exc
    return parse_receipt(data, str(path))
