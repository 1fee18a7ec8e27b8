"""The planner: manifest + selection + the target's current state -> the list of changes. Pure.

``gather_state`` (the only function here that reads the filesystem) collects what the planner
needs; ``plan_integrate`` / ``plan_toggles`` / ``plan_restore`` decide. ``--dry-run`` prints exactly
the plan the real run then applies; a plan with no actions means "nothing to do, no backup".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from . import loop_block, toggle_store, ui_block
from .backups import Backup
from .errors import DriftError, NotInstalledError, UsageError
from .fsutil import ABSENT, FileState, file_state, sha256_bytes
from .manifest import LOOP_FILE, RECEIPT_PATH, TOGGLES_PATH, UI_FILE, Manifest, resolve_destination
from .receipt import Receipt, parse_receipt

DRIFT_POLICIES = ("fail", "overwrite", "keep")
UI_HOOK = "ui-hook"  # the component that owns the managed block in streamlit.py (--update-ui)
BLOCK_FILES = (LOOP_FILE, UI_FILE)  # upstream files we change only by one managed block each


@dataclass(frozen=True)
class Action:
    path: str
    action: str  # create | update | delete | mode
    component: str | None
    before: FileState
    after: FileState | None  # None: content decided at apply time (the receipt)
    source: str | None = None
    content: bytes | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "action": self.action, "component": self.component,
                "old_sha256": self.before.sha256, "new_sha256": self.after.sha256 if self.after else None,
                "old_mode": self.before.mode, "new_mode": self.after.mode if self.after else None,
                "detail": self.detail}


@dataclass
class Plan:
    operation: str
    target: Path
    actions: list[Action] = field(default_factory=list)
    manifest_name: str | None = None
    manifest_version: str | None = None
    previous_version: str | None = None
    selected: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)
    hand_edits: list[dict[str, Any]] = field(default_factory=list)  # loop.py/streamlit.py edited outside our block: kept
    kept: list[str] = field(default_factory=list)
    toggles_before: dict[str, Any] | None = None
    toggles_after: dict[str, Any] | None = None
    toggles_base: dict[str, Any] | None = None  # what a newly created toggles file starts from
    receipt: Receipt | None = None
    remove_dirs: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.actions)

    @property
    def flips(self) -> dict[str, dict[str, bool | None]]:  # {toggle: {"old": ..., "new": ...}}
        if self.toggles_after is None:
            return {}
        before = self.toggles_before or self.toggles_base or {}
        return {k: {"old": before.get(k), "new": v} for k, v in self.toggles_after.items()
                if k != "revision" and before.get(k) != v}

    def as_dict(self) -> dict[str, Any]:
        return {"operation": self.operation, "target": str(self.target), "manifest": self.manifest_name,
                "manifest_version": self.manifest_version, "previous_version": self.previous_version,
                "selected": self.selected, "components": self.components,
                "actions": [a.as_dict() for a in self.actions], "drift": self.drift,
                "hand_edits": self.hand_edits, "kept": self.kept,
                "toggles_before": self.toggles_before, "toggles_after": self.toggles_after,
                "flips": self.flips, "changed": self.changed}


@dataclass(frozen=True)
class TargetState:
    files: dict[str, FileState]
    loop: bytes | None
    receipt: Receipt | None
    toggles: dict[str, Any] | None
    ui: bytes | None = None  # streamlit.py (None: absent or not a regular file)


def gather_state(target: Path, manifest: Manifest | None) -> TargetState:
    """Read what the planner needs: managed paths (current and planned), loop.py, streamlit.py, receipt, toggles."""
    receipt = None
    receipt_bytes = _read(target / RECEIPT_PATH)
    if receipt_bytes is not None:
        receipt = parse_receipt(receipt_bytes, str(target / RECEIPT_PATH))
    paths: set[str] = set(receipt.files) if receipt else set()
    if manifest is not None:
        paths |= {f.destination for c in manifest.components.values() for f in c.files}
    paths.difference_update(BLOCK_FILES)
    files = {rel: file_state(resolve_destination(target, rel)) for rel in sorted(paths)}
    files[RECEIPT_PATH] = file_state(target / RECEIPT_PATH)
    files[TOGGLES_PATH] = file_state(target / TOGGLES_PATH)
    files[LOOP_FILE] = file_state(target / LOOP_FILE)
    files[UI_FILE] = file_state(target / UI_FILE)
    toggles = None
    toggles_bytes = _read(target / TOGGLES_PATH)
    if toggles_bytes is not None:
        toggles = toggle_store.parse(toggles_bytes, str(target / TOGGLES_PATH))
    loop = _read(target / LOOP_FILE) if files[LOOP_FILE].type == "file" else None
    ui = _read(target / UI_FILE) if files[UI_FILE].type == "file" else None
    return TargetState(files, loop, receipt, toggles, ui)


def _read(path: Path) -> bytes | None:
    """The bytes of a regular file (``None`` if absent); anything else (a FIFO would block forever) is refused."""
    kind = file_state(path, with_hash=False).type
    if kind not in ("file", "absent", "symlink"):
        raise UsageError(f"{path} is a {'directory' if kind == 'dir' else 'special file'}, not a regular file; "
                         "nothing was changed", hint=f"move it away ({path}), then retry")
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _toggles_action(state: TargetState, defaults: dict[str, bool], flips: dict[str, bool],
                    plan: Plan) -> None:
    cur = state.toggles
    before_state = state.files[TOGGLES_PATH]
    if cur is None:
        base = toggle_store.initial(defaults)
        changes = {k: v for k, v in flips.items() if base[k] != v}
        new = toggle_store.apply_flips(base, changes, bump=bool(changes))
        kind, detail = "create", "from the manifest's toggle defaults"
        plan.toggles_base = base
    else:
        changes = {k: v for k, v in flips.items() if cur.get(k) != v}
        if not changes:
            plan.toggles_before = plan.toggles_after = cur
            return
        new = toggle_store.apply_flips(cur, changes, bump=True)
        kind, detail = "update", ", ".join(f"{k}={str(v).lower()}" for k, v in changes.items())
    data = toggle_store.to_bytes(new)
    mode = before_state.mode if before_state.type == "file" else 0o644
    plan.toggles_before, plan.toggles_after = cur, new
    plan.actions.append(Action(TOGGLES_PATH, kind, None, before_state,
                               FileState("file", sha256=sha256_bytes(data), mode=mode, size=len(data)),
                               content=data, detail=detail))


def _drift_item(path: str, recorded: dict[str, Any], current: FileState) -> dict[str, Any]:
    return {"path": path, "recorded_sha256": recorded["sha256"], "current_sha256": current.sha256,
            "current_type": current.type}


def plan_integrate(manifest: Manifest, selected: list[str], state: TargetState, target: Path, *,
                   flips: dict[str, bool], on_drift: str = "fail", python: str | None = None) -> Plan:
    """The change set that brings ``target`` to ``manifest`` for ``selected`` (plus dependencies)."""
    if on_drift not in DRIFT_POLICIES:
        raise UsageError(f"--on-drift={on_drift!r}: choose one of {', '.join(DRIFT_POLICIES)}")
    old = state.receipt
    final = manifest.closure([*selected, *(c for c in (old.components if old else ()) if c in manifest.components)])
    plan = Plan("integrate", target, manifest_name=manifest.name, manifest_version=manifest.version,
                previous_version=old.version if old else None, selected=manifest.closure(selected),
                components=final)
    recorded = dict(old.files) if old else {}
    desired: dict[str, tuple[FileState, str, str | None, bytes | None]] = {}
    for cid in final:
        for f in manifest.components[cid].files:
            desired[f.destination] = (FileState("file", sha256=f.sha256, mode=f.mode), cid, f.source, None)
    owner = next((c for c in final if manifest.components[c].loop_block), None)
    if owner is not None:
        if state.loop is None:
            _no_loop(target, state.files[LOOP_FILE])
        new_loop = loop_block.add_block(state.loop)
        mode = state.files[LOOP_FILE].mode
        desired[LOOP_FILE] = (FileState("file", sha256=sha256_bytes(new_loop), mode=mode), owner, None, new_loop)
    elif state.loop is not None and LOOP_FILE in recorded and loop_block.has_block(state.loop):
        new_loop = loop_block.remove_block(state.loop)
        plan.actions.append(Action(LOOP_FILE, "update", None, state.files[LOOP_FILE],
                                   FileState("file", sha256=sha256_bytes(new_loop),
                                             mode=state.files[LOOP_FILE].mode),
                                   content=new_loop, detail="remove the loop hook block"))
    _plan_ui_block(final, state, target, recorded, desired, plan)
    files_record: dict[str, dict[str, Any]] = {}
    conflicts: list[dict[str, Any]] = []
    for path, (want, cid, source, content) in desired.items():
        cur = state.files.get(path, ABSENT)
        rec = recorded.get(path) or {}  # {}: never recorded (no sha256), so never drifted
        drifted = bool(rec) and cur.sha256 != rec["sha256"]
        if path in BLOCK_FILES and drifted and cur.same_content(want):
            # edited by hand outside our (intact) block: the operator's business, kept -- but never absorbed silently
            note = (f"changed by hand outside the managed block since it was recorded (sha256 "
                    f"{str(rec['sha256'])[:12]}... -> {str(cur.sha256)[:12]}...); the edit is kept and this hash "
                    "includes it")
            plan.hand_edits.append({**_drift_item(path, rec, cur), "detail": note})
            files_record[path] = {"sha256": want.sha256, "mode": want.mode, "note": note}
            if cur.same(want):
                continue
        elif cur.same(want):
            files_record[path] = {"sha256": want.sha256, "mode": want.mode}
            continue
        if drifted and not cur.same_content(want):
            item = _drift_item(path, rec, cur)
            plan.drift.append(item)
            if on_drift == "fail":
                conflicts.append(item)
                continue
            if on_drift == "keep":
                plan.kept.append(path)
                files_record[path] = rec
                continue
        kind = "create" if not cur.exists else ("mode" if cur.same_content(want) else "update")
        detail = BLOCK_DETAILS.get(path, "") if content is not None and kind != "mode" else ""
        plan.actions.append(Action(path, kind, cid, cur, want, source, content, detail))
        files_record.setdefault(path, {"sha256": want.sha256, "mode": want.mode})
    for path in sorted(set(recorded) - set(desired) - set(BLOCK_FILES)):
        cur = state.files.get(path, ABSENT)
        if not cur.exists:
            continue
        if cur.sha256 != recorded[path]["sha256"]:
            item = _drift_item(path, recorded[path], cur)
            plan.drift.append(item)
            if on_drift == "fail":
                conflicts.append(item)
                continue
            if on_drift == "keep":
                plan.kept.append(path)
                continue
        plan.actions.append(Action(path, "delete", None, cur, ABSENT, detail="no longer in the manifest"))
    if conflicts:
        names = ", ".join(c["path"] for c in conflicts)
        raise DriftError(f"{len(conflicts)} managed file(s) changed by hand since they were deployed: {names}",
                         hint="keep them with --on-drift=keep, replace them with --on-drift=overwrite, "
                              "or inspect them with --status",
                         drift=conflicts)
    toggles_plan = Plan("toggles", target)
    _toggles_action(state, manifest.toggle_defaults, flips, toggles_plan)
    plan.toggles_before, plan.toggles_after = toggles_plan.toggles_before, toggles_plan.toggles_after
    plan.toggles_base = toggles_plan.toggles_base
    plan.receipt = Receipt(manifest.name, manifest.version, tuple(final), files_record,
                           python=python or (old.python if old else None))  # --python, else kept
    if plan.actions or toggles_plan.actions or old is None or old.stable() != plan.receipt.stable():
        plan.actions.sort(key=lambda a: (a.path in BLOCK_FILES, a.path))  # hooks last: what they import exists
        plan.actions.append(Action(RECEIPT_PATH, "create" if old is None else "update", None,
                                   state.files[RECEIPT_PATH], None, detail=f"version {manifest.version}"))
        plan.actions.extend(toggles_plan.actions)
    return plan


BLOCK_DETAILS = {LOOP_FILE: "append the loop hook block", UI_FILE: "insert the UI hook block"}


def _plan_ui_block(final: list[str], state: TargetState, target: Path, recorded: dict[str, Any],
                   desired: dict[str, tuple[FileState, str, str | None, bytes | None]], plan: Plan) -> None:
    """streamlit.py, as loop.py: wanted with our block while ``ui-hook`` is deployed, else the block removed."""
    cur = state.files[UI_FILE]
    if UI_HOOK in final:
        if state.ui is None:
            _no_ui(target, cur)
        new_ui = _ui_edit(ui_block.add_block, state.ui, target, UI_FILE in recorded)
        desired[UI_FILE] = (FileState("file", sha256=sha256_bytes(new_ui), mode=cur.mode), UI_HOOK, None, new_ui)
    elif state.ui is not None and UI_FILE in recorded:
        new_ui = _ui_edit(ui_block.remove_block, state.ui, target, True)
        if new_ui == state.ui:
            return
        plan.actions.append(Action(UI_FILE, "update", None, cur, FileState("file", sha256=sha256_bytes(new_ui),
                                                                           mode=cur.mode),
                                   content=new_ui, detail="remove the UI hook block"))


def _ui_edit(edit: Any, content: bytes | None, target: Path, ours: bool) -> bytes:
    """``edit(content)``; a damaged block or an unparsable file is refused naming the file and the way out."""
    assert content is not None
    try:
        return bytes(edit(content))
    except ui_block.BlockError as exc:
        path = target / UI_FILE
        if ours:
            raise DriftError(f"{path}: {exc} (changed by hand since it was deployed); nothing was changed",
                             hint=f"mend the block's marker lines in {path} by hand (or restore the backup taken "
                                  "before the edit: --list-backups, --restore ID), then retry",
                             drift=[{"path": UI_FILE}]) from exc
        raise UsageError(f"{path}: {exc}; nothing was changed",
                         hint=f"fix {path} (or deploy without --update-ui), then retry") from exc


def _no_ui(target: Path, cur: FileState) -> None:
    """Refuse a target whose streamlit.py is missing or not a regular file (as for loop.py)."""
    path = target / UI_FILE
    if cur.type == "symlink":
        raise UsageError(f"{path} is a symlink (to {cur.link}); the UI hook is written only into a regular file",
                         hint=f"replace the symlink by a copy of its file (cp --remove-destination "
                              f"\"$(readlink -f {path})\" {path}), or deploy without --update-ui")
    if cur.exists:
        raise UsageError(f"{path} is a {'directory' if cur.type == 'dir' else 'special file'}, not a regular file",
                         hint="pass the computer_use_demo directory with --target DIR")
    raise UsageError(f"{target} has no {UI_FILE}, so the UI hook has nowhere to go",
                     hint="pass the computer_use_demo directory with --target DIR, or deploy without --update-ui "
                          "(select the components instead of --all)")


def _no_loop(target: Path, cur: FileState) -> NoReturn:
    """Refuse a target whose loop.py is not a regular file, saying what it is and what to do."""
    loop = target / LOOP_FILE
    if cur.type == "symlink":
        raise UsageError(f"{loop} is a symlink (to {cur.link}); the loop hook is written only into a regular file",
                         hint=f"replace the symlink by a copy of its file (cp --remove-destination "
                              f"\"$(readlink -f {loop})\" {loop}), or deploy without the loop hook")
    if cur.exists:
        raise UsageError(f"{loop} is a {'directory' if cur.type == 'dir' else 'special file'}, not a regular file",
                         hint="pass the computer_use_demo directory with --target DIR")
    raise UsageError(f"{target} has no {LOOP_FILE}; is it a computer_use_demo tree?",
                     hint="pass the computer_use_demo directory with --target DIR")


def plan_toggles(state: TargetState, target: Path, flips: dict[str, bool]) -> Plan:
    if state.toggles is None and state.receipt is not None:
        raise NotInstalledError(
            f"{target / TOGGLES_PATH} is missing although {state.receipt.name} {state.receipt.version} is deployed "
            f"there (deleted by hand?); nothing was changed",
            hint="recreate it from the manifest's defaults with --integrate, adding the same --enable-... flags "
                 "to that command")
    if state.toggles is None:
        raise NotInstalledError(f"{target / TOGGLES_PATH} does not exist: nothing is deployed there yet",
                                hint="deploy first: --integrate --all (toggles can be set in the same command)")
    if state.receipt is None:  # e.g. --target pointing at a source checkout that ships default toggles
        raise NotInstalledError(f"{target} has a toggles file but no {RECEIPT_PATH}: it is not a tree this tool "
                                "deployed", hint="check --target (the production computer_use_demo directory), "
                                "or deploy first with --integrate")
    plan = Plan("toggles", target, manifest_name=state.receipt.name if state.receipt else None,
                manifest_version=state.receipt.version if state.receipt else None,
                components=list(state.receipt.components) if state.receipt else [])
    _toggles_action(state, {}, flips, plan)
    return plan


def restore_states(chain: list[Backup]) -> dict[str, tuple[FileState, Backup]]:
    """What every path looked like before the first transaction of ``chain`` (oldest first).

    Each backup records the paths its transaction touched as they were just before it, so the
    oldest backup of the chain that mentions a path holds that path's state at the chain's start:
    a path first touched by a later transaction was unchanged until then.
    """
    states: dict[str, tuple[FileState, Backup]] = {}
    for backup in reversed(chain):
        for rel, st in backup.files.items():
            states[rel] = (st, backup)
    return states


def plan_restore(chain: list[Backup], current: dict[str, FileState], target: Path) -> Plan:
    """Put every path the chain recorded back to its state before ``chain[0]``; remove dirs it recorded absent.

    ``chain`` is the chosen backup followed by every later transaction that was kept (COMMITTED),
    so restoring an earlier backup also undoes what was deployed after it.
    """
    m = chain[0].meta
    plan = Plan("restore", target, manifest_version=m.get("manifest_versions", {}).get("before"),
                components=list(m.get("components_before") or []))
    for rel, (want, backup) in sorted(restore_states(chain).items()):
        cur = current[rel]
        if cur.same(want):
            continue
        kind = ("delete" if not want.exists else "create" if not cur.exists
                else "mode" if cur.same_content(want) else "update")
        source = str(backup.stored(rel)) if want.type == "file" else None
        plan.actions.append(Action(rel, kind, None, cur, want, source, detail=f"from {backup.id}"))
    plan.remove_dirs = sorted({d for b in chain for d in b.meta.get("absent_dirs", [])}, reverse=True)
    return plan
