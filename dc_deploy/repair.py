"""``--repair``: the way out of the two states no other command can leave.

1. **An unreadable journal** (``.dc-streaming-journal.json`` truncated or garbled) blocks every command
   that takes the lock, because nothing can roll it back. ``--repair`` renames it to
   ``<journal>.corrupt-<n>`` (its bytes are the evidence, never deleted), then checks the tree against
   the receipt and against the backup the interrupted transaction took (named in the journal's
   readable part, else the newest unfinished backup) and reports what it found, with the command
   that puts the tree back when it is half-changed (``--restore <that backup>``).
2. **An invalid (or missing) toggles file** in a deployed tree: ``--restore latest`` would undo the last
   deployment instead. ``--repair`` rewrites it from the toggles the receipt recorded, with every
   later toggle write of the audit log applied (or, for receipts written before toggles were
   recorded, the manifest's defaults), as one transaction: the invalid file is kept in its backup,
   the revision grows past every revision seen, an audit line is written, verification runs.

Everything happens under the lock; a tree with neither problem is left alone ("nothing to repair").
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from . import api, journal, toggle_store, transaction
from . import status as status_mod
from .backups import Backup, BackupStore
from .context import Context
from .errors import DeployError, NotInstalledError
from .fsutil import FileState, file_state, sha256_bytes
from .lock import target_lock
from .manifest import RECEIPT_PATH, TOGGLES_PATH, default_manifest_path, load_manifest, resolve_destination
from .plan import Action, Plan
from .receipt import Receipt, read_receipt
from .results import JournalFinding, RepairResult, ToggleRepair

FINAL = ("COMMITTED", "FAILED", "ROLLED_BACK")


def _backup_of_journal(raw: bytes, store: BackupStore, target: Path) -> Backup | None:
    """The backup the unreadable journal belonged to: its id if still legible, else the newest unfinished one."""
    mine = store.for_target(target)
    found = re.search(rb'"backup_id"\s*:\s*"([^"\\]{1,200})"', raw)
    if found:
        ident = found.group(1).decode(errors="replace")
        for b in mine:
            if b.id == ident:
                return b
    unfinished = [b for b in mine if b.status not in FINAL]
    return unfinished[-1] if unfinished else None


def inspect_tree(target: Path, store: BackupStore, raw: bytes, problem: str) -> JournalFinding:
    """What the tree looks like against the receipt and the interrupted transaction's backup."""
    receipt_error = None
    try:
        receipt = read_receipt(target)
    except DeployError as exc:
        receipt, receipt_error = None, str(exc)
    drift = status_mod.drift(target, receipt) if receipt is not None else []
    label = f"{receipt.name} {receipt.version}" if receipt is not None else None
    backup = _backup_of_journal(raw, store, target)
    at_before: list[str] = []
    undone: list[str] = []
    if backup is not None:
        for rel, before in sorted(backup.files.items()):
            try:
                same = file_state(resolve_destination(target, rel)).same(before)
            except DeployError:
                same = False
            (at_before if same else undone).append(rel)
    drifted = [d["path"] for d in drift]
    nxt: str | None
    if backup is not None and not undone:
        verdict = (f"every path the interrupted transaction backed up ({backup.id}) is as it was before it: "
                   "nothing was left half-changed")
        nxt = None
    elif backup is not None and receipt is not None and not drifted and RECEIPT_PATH in undone:
        verdict = (f"all {len(undone)} path(s) the interrupted transaction changed match its new receipt "
                   f"({label}), but it never committed (verification may not have run)")
        nxt = (f"keep it and check it with verify_streaming.py --target {target}, or undo it with "
               f"integrate_streaming.py --restore {backup.id}")
    elif backup is not None:
        verdict = (f"half-changed: {len(undone)} of {len(backup.files)} path(s) backed up by {backup.id} "
                   f"differ from before the interrupted transaction ({', '.join(undone[:6])})")
        nxt = f"integrate_streaming.py --restore {backup.id} (puts back the state before it)"
    elif receipt is not None and not drifted:
        verdict = f"the tree matches its receipt ({label}) and no unfinished backup was found"
        nxt = None
    else:
        verdict = (f"{len(drifted)} managed file(s) differ from the receipt and no backup of the interrupted "
                   "transaction was found" if receipt else "nothing is recorded as deployed and no "
                   "unfinished backup was found")
        nxt = "inspect with --status; redeploy with --integrate --on-drift=overwrite"
    return JournalFinding(problem, None, verdict, nxt, receipt=label, receipt_error=receipt_error, drift=drift,
                          backup_id=backup.id if backup else None, backup_status=backup.status if backup else None,
                          at_before_state=at_before, not_at_before_state=undone)


def rebuilt_toggles(target: Path, receipt: Receipt, audit: Path, ctx: Context,
                    broken: bytes | None) -> tuple[dict[str, Any], str]:
    """The toggles the tree should have: the receipt's, then each later audited write; (document, source)."""
    if receipt.toggles is not None:
        doc = toggle_store.validate(dict(receipt.toggles), "the toggles recorded in the receipt")
        source = "the receipt"
    else:
        defaults = load_manifest(default_manifest_path(ctx.project_root)).toggle_defaults
        doc, source = toggle_store.initial(defaults), "the manifest's defaults (the receipt recorded no toggles)"
    revisions = [int(doc.get("revision", 0))]
    applied = 0
    for entry in _audit_entries(audit, target):
        rev = entry.get("revision_new")
        if isinstance(rev, int) and rev > int(doc["revision"]):
            doc.update({k: bool(v) for k, v in (entry.get("new") or {}).items() if k in toggle_store.FEATURES})
            doc["revision"] = rev
            revisions.append(rev)
            applied += 1
    if applied:
        source += f" and {applied} later write(s) from {audit.name}"
    old_rev = _old_revision(broken)
    new = toggle_store.apply_flips({**doc, "revision": max([*revisions, old_rev])}, {}, bump=True)
    return new, source


def _audit_entries(audit: Path, target: Path) -> list[dict[str, Any]]:
    try:
        lines = audit.read_bytes().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a torn last line of a crashed append
        if isinstance(entry, dict) and entry.get("target") == str(target) and entry.get("result") == "committed":
            out.append(entry)
    return out


def _old_revision(broken: bytes | None) -> int:
    """The revision the broken file claims (also when it is cut off), so the new one is past it."""
    found = re.search(rb'"revision"\s*:\s*(\d{1,18})\b', broken or b"")
    return int(found.group(1)) if found else 0


def _toggles_problem(target: Path) -> str | None:
    try:
        doc = toggle_store.read(target)
    except DeployError as exc:
        return str(exc)
    return f"{toggle_store.toggles_path(target)} is missing" if doc is None else None


def repair(opts: api.Options, ctx: Context) -> RepairResult:
    target = api.resolve_target(opts.target)
    store = BackupStore(opts.backup_dir)
    result = RepairResult(str(target), opts.dry_run)
    if opts.dry_run:  # read-only, like every --dry-run: no lock file, nothing renamed
        result.journal = _journal_finding(target, store, set_aside=False)
        result.toggles = ToggleRepair(_toggles_problem(target))
        return result
    api._agent_python(opts, ctx, target)  # noqa: SLF001 - a rewritten toggles file is verified like a flip
    with target_lock(target, ctx, opts.lock_timeout):
        result.journal = _journal_finding(target, store, set_aside=True)
        result.recovered = transaction.recover(target, store, ctx)  # a readable hot journal is handled as always
        problem = _toggles_problem(target)
        receipt = read_receipt(target)
        if problem is not None and receipt is None:
            raise NotInstalledError(f"{problem}, and {target} has no receipt to rebuild it from",
                                    hint="deploy first: --integrate --all")
        if problem is not None and receipt is not None:
            result.toggles = _rewrite_toggles(opts, ctx, store, target, receipt, problem)
    return result


def _journal_finding(target: Path, store: BackupStore, *, set_aside: bool) -> JournalFinding | None:
    try:
        journal.read(target)
        return None
    except journal.JournalUnreadableError as exc:
        raw = journal.journal_path(target).read_bytes()
        found = inspect_tree(target, store, raw, str(exc))
        aside = journal.set_aside(target) if set_aside else None
        found.set_aside_as = str(aside) if aside else None
        return found


def _rewrite_toggles(opts: api.Options, ctx: Context, store: BackupStore, target: Path, receipt: Receipt,
                     problem: str) -> ToggleRepair:
    path = toggle_store.toggles_path(target)
    broken = path.read_bytes() if path.is_file() else None
    doc, source = rebuilt_toggles(target, receipt, opts.backup_dir / toggle_store.AUDIT_FILE, ctx, broken)
    content = toggle_store.to_bytes(doc)
    before = file_state(path)
    mode = before.mode if before.type == "file" and before.mode is not None else 0o644
    plan = Plan("toggles", target, manifest_name=receipt.name, manifest_version=receipt.version,
                components=list(receipt.components))
    plan.toggles_base = dict.fromkeys(toggle_store.FEATURES)  # the old values are unknown: audit every key
    plan.toggles_after = doc
    plan.actions.append(Action(TOGGLES_PATH, "update" if before.exists else "create", None, before,
                               FileState("file", sha256=sha256_bytes(content), mode=mode, size=len(content)),
                               content=content, detail=f"rebuilt from {source}"))
    reason = opts.reason or f"--repair: {problem}"
    result = api._execute(dataclasses.replace(opts, reason=reason), ctx, plan, store,  # noqa: SLF001
                          verify=opts.verify, recovered=None)
    return ToggleRepair(problem, source, doc, result.backup_id, result.verification)
