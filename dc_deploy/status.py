"""``--status``: what is installed, toggles, drift, the last backup, an interrupted transaction. Read-only."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from . import journal, loop_block, toggle_store, ui_block
from .backups import BackupStore
from .errors import DeployError
from .fsutil import file_state
from .lock import live_holder
from .manifest import LOOP_FILE, RECEIPT_PATH, TOGGLES_PATH, UI_FILE, resolve_destination
from .receipt import Receipt, read_receipt
from .results import StatusResult


def installed(target: Path) -> Receipt | None:
    try:
        return read_receipt(target)
    except DeployError:
        return None


def drift(target: Path, receipt: Receipt) -> list[dict[str, Any]]:
    """Managed files whose content differs from what was deployed (missing ones included)."""
    out: list[dict[str, Any]] = []
    for rel, rec in sorted(receipt.files.items()):
        try:
            cur = file_state(resolve_destination(target, rel))
        except DeployError as exc:
            out.append({"path": rel, "recorded_sha256": rec["sha256"], "current_sha256": None,
                        "current_type": "unsafe", "detail": str(exc)})
            continue
        if cur.sha256 != rec["sha256"]:
            detail = "missing" if not cur.exists else "content changed"
            block, name = {LOOP_FILE: (loop_block, "loop"), UI_FILE: (ui_block, "UI")}.get(rel, (None, ""))
            if block is not None and cur.type == "file":
                try:
                    has = block.has_block((target / rel).read_bytes())
                except block.BlockError as exc:
                    has, detail = False, str(exc)
                if not has:
                    detail = f"the {name} hook block is missing or damaged"
                elif block.add_block((target / rel).read_bytes()) == (target / rel).read_bytes():
                    detail = ("changed by hand outside the managed block (the block is intact; the next --integrate "
                              "keeps the edit and records it)")
            out.append({"path": rel, "recorded_sha256": rec["sha256"], "current_sha256": cur.sha256,
                        "current_type": cur.type, "detail": detail})
        elif cur.mode != rec.get("mode"):
            out.append({"path": rel, "recorded_sha256": rec["sha256"], "current_sha256": cur.sha256,
                        "current_type": cur.type, "detail": f"mode {oct(cur.mode or 0)} != {oct(rec['mode'])}"})
    return out


def collect(target: Path, store: BackupStore) -> StatusResult:
    res = StatusResult(str(target))
    special = {rel: file_state(target / rel, with_hash=False).type for rel in (RECEIPT_PATH, TOGGLES_PATH)}
    special = {rel: kind for rel, kind in special.items() if kind in ("dir", "other")}  # never read a FIFO
    try:
        receipt = None if RECEIPT_PATH in special else read_receipt(target)
    except DeployError as exc:
        receipt, res.receipt_error = None, str(exc)
    if RECEIPT_PATH in special:
        res.receipt_error = f"{target / RECEIPT_PATH} is not a regular file; move it away"
    if receipt is not None:
        res.receipt, res.drift = receipt, drift(target, receipt)
    res.verify_python = res.python or sys.executable  # what the next verification runs in
    try:
        res.toggles = None if TOGGLES_PATH in special else toggle_store.read(target)
    except DeployError as exc:
        res.toggles_error = str(exc)
    if TOGGLES_PATH in special:
        res.toggles_error = f"{target / TOGGLES_PATH} is not a regular file; move it away"
    if receipt is not None and res.toggles is None and res.toggles_error is None:
        res.toggles_error = (f"{toggle_store.toggles_path(target)} is missing; recreate it from the manifest's "
                             "defaults with --integrate (add the --enable-... flags you want)")
    backups = store.for_target(target)
    res.last_backup = backups[-1].summary() if backups else None
    good = [b for b in backups if b.status == "COMMITTED"]
    res.last_good_backup = good[-1].id if good else None
    res.backup_count = len(backups)
    try:
        jr = journal.read(target)
        res.interrupted = jr.summary() if jr else None
    except DeployError as exc:
        res.interrupted = {"message": f"{exc} (hint: {exc.hint})" if exc.hint else str(exc)}
    res.in_progress = in_progress(target, res.interrupted)
    if res.in_progress is not None:
        res.interrupted = None  # a live command's transaction is not an interrupted one
    return res


def in_progress(target: Path, journal_summary: dict[str, Any] | None) -> dict[str, Any] | None:
    """Another command holding the lock right now (its transaction, if it has one, is in progress)."""
    holder = live_holder(target)
    if holder is None:
        return None
    pid, since, command = holder.get("pid", "unknown"), holder.get("since", "unknown"), holder.get("command")
    what, tail = "a command", "; not interrupted: it holds the lock"
    if journal_summary and journal_summary.get("txid"):
        what = f"{journal_summary.get('operation')} transaction {journal_summary['txid']}"
        if journal_summary.get("pid") not in (None, pid):  # a crashed one, which the lock holder will recover
            what, tail = f"recovery of the interrupted {what} (started by pid {journal_summary['pid']})", ""
    info = {k: v for k, v in (journal_summary or {}).items() if k not in ("message", "pid")}
    return {**info, "pid": pid, "since": since, "holder": holder,
            "message": f"{what} in progress (pid {pid}, since {since}" + (f": {command})" if command else ")")
                       + tail}
