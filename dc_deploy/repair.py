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

import json
import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

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


def inspect_tree(target: Path, store: BackupStore, raw: bytes) -> dict[str, Any]:
    """What the tree looks like against the receipt and the interrupted transaction's backup."""
    out: dict[str, Any] = {"receipt": None, "drift": [], "backup_id": None, "backup_status": None,
                           "at_before_state": [], "not_at_before_state": []}
    try:
        receipt = read_receipt(target)
    except DeployError as exc:
        receipt, out["receipt_error"] = None, str(exc)
    if receipt is not None:
        out["receipt"] = f"{receipt.name} {receipt.version}"
        out["drift"] = status_mod.drift(target, receipt)
    backup = _backup_of_journal(raw, store, target)
    if backup is not None:
        out["backup_id"], out["backup_status"] = backup.id, backup.status
        for rel, before in sorted(backup.files.items()):
            try:
                same = file_state(resolve_destination(target, rel)).same(before)
            except DeployError:
                same = False
            out["at_before_state" if same else "not_at_before_state"].append(rel)
    drifted = [d["path"] for d in out["drift"]]
    undone = out["not_at_before_state"]
    if backup is not None and not undone:
        out["verdict"] = (f"every path the interrupted transaction backed up ({backup.id}) is as it was before it: "
                          "nothing was left half-changed")
        out["next"] = None
    elif backup is not None and receipt is not None and not drifted and RECEIPT_PATH in undone:
        out["verdict"] = (f"all {len(undone)} path(s) the interrupted transaction changed match its new receipt "
                          f"({out['receipt']}), but it never committed (verification may not have run)")
        out["next"] = (f"keep it and check it with verify_streaming.py --target {target}, or undo it with "
                       f"integrate_streaming.py --restore {backup.id}")
    elif backup is not None:
        out["verdict"] = (f"half-changed: {len(undone)} of {len(backup.files)} path(s) backed up by {backup.id} "
                          f"differ from before the interrupted transaction ({', '.join(undone[:6])})")
        out["next"] = f"integrate_streaming.py --restore {backup.id} (puts back the state before it)"
    elif receipt is not None and not drifted:
        out["verdict"] = f"the tree matches its receipt ({out['receipt']}) and no unfinished backup was found"
        out["next"] = None
    else:
        out["verdict"] = (f"{len(drifted)} managed file(s) differ from the receipt and no backup of the interrupted "
                          "transaction was found" if receipt else "nothing is recorded as deployed and no "
                          "unfinished backup was found")
        out["next"] = "inspect with --status; redeploy with --integrate --on-drift=overwrite"
    return out


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


def repair(opts: api.Options, ctx: Context) -> api.Result:
    target = api.resolve_target(opts.target)
    store = BackupStore(opts.backup_dir)
    data: dict[str, Any] = {"target": str(target), "journal": None, "toggles": None, "dry_run": opts.dry_run}
    if opts.dry_run:  # read-only, like every --dry-run: no lock file, nothing renamed
        data["journal"] = _journal_finding(target, store, set_aside=False)
        data["toggles"] = {"problem": _toggles_problem(target)}
        return api.Result("repair", data)
    api._agent_python(opts, ctx, target)  # noqa: SLF001 - a rewritten toggles file is verified like a flip
    with target_lock(target, ctx, opts.lock_timeout):
        data["journal"] = _journal_finding(target, store, set_aside=True)
        recovered = transaction.recover(target, store, ctx)  # a readable hot journal is handled as always
        data["recovered"] = recovered.as_dict() if recovered else None
        problem = _toggles_problem(target)
        receipt = read_receipt(target)
        if problem is not None and receipt is None:
            raise NotInstalledError(f"{problem}, and {target} has no receipt to rebuild it from",
                                    hint="deploy first: --integrate --all")
        if problem is not None and receipt is not None:
            data["toggles"] = _rewrite_toggles(opts, ctx, store, target, receipt, problem)
    return api.Result("repair", data)


def _journal_finding(target: Path, store: BackupStore, *, set_aside: bool) -> dict[str, Any] | None:
    try:
        journal.read(target)
        return None
    except journal.JournalUnreadableError as exc:
        raw = journal.journal_path(target).read_bytes()
        found = inspect_tree(target, store, raw)
        aside = journal.set_aside(target) if set_aside else None
        return {"problem": str(exc), "set_aside_as": str(aside) if aside else None, **found}


def _rewrite_toggles(opts: api.Options, ctx: Context, store: BackupStore, target: Path, receipt: Receipt,
                     problem: str) -> dict[str, Any]:
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
    result = api._execute(api.Options(**{**vars(opts), "reason": reason}), ctx, plan, store,  # noqa: SLF001
                          verify=opts.verify, recovered=None)
    return {"problem": problem, "source": source, "toggles": doc, "backup_id": result.data["backup_id"],
            "verification": result.data["verification"]}


def render(d: dict[str, Any], console: Console) -> None:
    j, t = d.get("journal"), d.get("toggles")
    if j:
        where = f"set aside as {j['set_aside_as']}" if j.get("set_aside_as") else "would be set aside (dry run)"
        console.print(f"[yellow]journal unreadable[/]: {escape(j['problem'])}; {escape(where)}")
        console.print(f"tree check: {escape(j['verdict'])}")
        if j.get("next"):
            console.print(f"[bold]next:[/] {escape(j['next'])}")
    if t and t.get("source"):
        flags = ", ".join(f"{k}={'on' if v else 'off'}" for k, v in t["toggles"].items() if k != "revision")
        console.print(f"[yellow]toggles repaired[/]: {escape(t['problem'])}")
        console.print(f"rewritten from {escape(t['source'])}: revision {t['toggles']['revision']}: {flags}")
        if t.get("verification"):
            console.print(t["verification"].get("summary", ""))
        console.print(f"[green]done[/]: backup {t['backup_id']} keeps the old file (undo with --restore "
                      f"{t['backup_id']})")
    elif t and t.get("problem"):
        console.print(f"toggles: {escape(t['problem'])} (would be rewritten)")
    if not j and not (t and t.get("problem")):
        console.print(f"{d['target']}: nothing to repair (journal and toggles are fine)")
