"""One function per command. Each returns its result dataclass (``results.py``; shown by render.py) or raises
``DeployError``.

Commands that change the target take the lock, then first recover any interrupted journal, then
plan, then (if the plan is not empty) run one transaction. Read-only commands (``status``,
``list_backups`` and every ``--dry-run``) never write anything, not even the lock file.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import agent_python, failpoints, gitinfo, journal, python_deps, toggle_store, transaction, verifyrun
from . import status as status_mod
from .backups import Backup, BackupStore
from .build import build_manifest as _build
from .context import Context
from .errors import DeployError, UsageError, VerificationFailedError
from .fsutil import FileState, file_state
from .lock import target_lock
from .manifest import (
    LOOP_FILE,
    RECEIPT_PATH,
    TOGGLES_PATH,
    default_manifest_path,
    load_manifest,
    resolve_destination,
    verify_sources,
)
from .metrics_summary import summarize
from .plan import Plan, gather_state, plan_integrate, plan_restore, plan_toggles, restore_states
from .receipt import Receipt
from .results import BuildResult, ChangeResult, ListResult, PruneResult, Result, StatusResult

DEFAULT_LOCK_TIMEOUT = 30.0
DEFAULT_VERIFY_TIMEOUT = 60.0


@dataclass
class Options:
    target: Path
    backup_dir: Path
    manifest: Path | None = None
    dry_run: bool = False
    verify: bool = True
    verify_timeout: float = DEFAULT_VERIFY_TIMEOUT
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    reason: str | None = None
    on_drift: str = "fail"
    git_commit: bool = False
    python: str | None = None  # --python: the agent's interpreter (integrate records it in the receipt)


def resolve_target(path: Path) -> Path:
    if not path.exists():
        raise UsageError(f"target {path} does not exist", hint="pass the computer_use_demo directory with --target DIR")
    if not path.is_dir():
        raise UsageError(f"target {path} is not a directory", hint="pass the computer_use_demo directory")
    return path.resolve()


def _writable_target(opts: Options) -> Path:
    """``resolve_target`` for commands that change the target; ``--git-commit`` is checked before any change."""
    target = resolve_target(opts.target)
    if opts.git_commit and not opts.dry_run and gitinfo.target_info(target) is None:
        raise UsageError(f"--git-commit: {target} is not inside a git work tree; nothing was changed",
                         hint="drop --git-commit, or run git init in the target's repository")
    return target


def _agent_python(opts: Options, ctx: Context, target: Path) -> str | None:
    """Check ``--python`` (or the recorded one) before any change; set the interpreter verification uses.

    Returns the normalized ``--python`` (None when not given). Exit 2 for an unusable interpreter or
    one that lacks a module the deployed loop needs (unless verification is off or overridden).
    """
    given = agent_python.normalize(opts.python) if opts.python else None
    receipt = status_mod.installed(target)
    chosen, source = agent_python.effective(given, receipt.python if receipt else None)
    if source == "receipt":
        chosen = agent_python.normalize(chosen, recorded=True)
    if opts.verify and not opts.dry_run and not ctx.environ.get(verifyrun.ENV_COMMAND):
        agent_python.check_modules(chosen, target, ctx.environ)
    elif given:
        agent_python.probe(given, [], ctx.environ)
    ctx.agent_python = chosen
    return given


def _interrupted(target: Path) -> dict[str, Any] | None:
    jr = journal.read(target)
    if jr is None:
        return None
    return status_mod.in_progress(target, jr.summary()) or jr.summary()  # a live holder's is not interrupted


def _meta(opts: Options, ctx: Context, plan: Plan, **extra: Any) -> dict[str, Any]:
    return {"created_at": ctx.now_iso(), "reason": opts.reason, "user": ctx.user, "host": ctx.host,
            "command": ctx.command, "pid": os.getpid(), "manifest_version": plan.manifest_version,
            "manifest_versions": {"before": plan.previous_version, "after": plan.manifest_version},
            "components": plan.components, "components_before": _installed_components(plan.target),
            "project_commit": gitinfo.project_commit(ctx.project_root),
            "target_git": gitinfo.target_info(plan.target), **extra}


def _installed_components(target: Path) -> list[str]:
    r = status_mod.installed(target)
    return list(r.components) if r else []


def _changes(plan: Plan, ctx: Context) -> list[transaction.Change]:
    out = []
    for a in plan.actions:
        fps = {"before_replace": "before_replace", "after_replace": "after_replace"}
        if a.path == RECEIPT_PATH:
            fps["after_replace"] = "after_receipt"
        elif a.path == TOGGLES_PATH:
            fps = {"before_replace": "toggle_after_temp", "after_replace": "toggle_after_replace"}
        elif plan.operation == "restore":
            fps["after_replace"] = "mid_restore"
        after = a.after or FileState("file", mode=0o644)
        source = None
        if a.source is not None:
            source = Path(a.source) if plan.operation == "restore" else ctx.project_root / a.source
        out.append(transaction.Change(a.path, after, source, a.content, fps["before_replace"], fps["after_replace"]))
    return out


def _audit(opts: Options, ctx: Context, plan: Plan, backup: Backup, result: str, why: str | None = None) -> None:
    if not plan.flips:
        return
    before, after = plan.toggles_before or {}, plan.toggles_after or {}
    record = {
        "time": ctx.now_iso(), "target": str(plan.target), "user": ctx.user, "host": ctx.host,
        "old": {k: v["old"] for k, v in plan.flips.items()}, "new": {k: v["new"] for k, v in plan.flips.items()},
        "revision_old": before.get("revision"), "revision_new": after.get("revision"),
        "reason": opts.reason, "backup_id": backup.id, "result": result, "command": ctx.command}
    if why is not None:
        record["rollback_reason"] = why
    toggle_store.append_audit(opts.backup_dir / toggle_store.AUDIT_FILE, record)


def _rollback_reason(exc: BaseException) -> str:
    if isinstance(exc, VerificationFailedError):
        return "verification failed"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted by SIGINT"
    return str(exc).split("; every change was rolled back")[0] or type(exc).__name__


def _execute(opts: Options, ctx: Context, plan: Plan, store: BackupStore, *, verify: bool,
             recovered: transaction.Recovery | None, **meta_extra: Any) -> ChangeResult:
    receipt_cb = None
    if plan.receipt is not None:
        template = plan.receipt

        def receipt_cb(backup: Backup) -> dict[str, bytes]:
            r = Receipt(template.name, template.version, template.components, template.files,
                        backup.meta.get("project_commit"), ctx.now_iso(), backup.id, backup.meta.get("target_git"),
                        template.python, plan.toggles_after)
            return {RECEIPT_PATH: r.to_bytes()}

    store_meta = _meta(opts, ctx, plan, **meta_extra)

    def on_rollback(backup: Backup, put_back: list[str], exc: BaseException) -> None:
        if TOGGLES_PATH in put_back:  # the flip was written, then undone: the audit log says so, and why
            _audit(opts, ctx, plan, backup, "rolled_back", _rollback_reason(exc))

    try:
        outcome = transaction.run(plan.target, store, ctx, operation=plan.operation, changes=_changes(plan, ctx),
                                  meta=store_meta, remove_dirs=plan.remove_dirs, verify=verify,
                                  verify_timeout=opts.verify_timeout, content_for=receipt_cb, on_rollback=on_rollback)
    except VerificationFailedError as exc:
        exc.data["plan"] = plan.as_dict()
        raise
    _audit(opts, ctx, plan, outcome.backup, "committed")
    result = ChangeResult(plan, dry_run=False, executed=True, backup_id=outcome.backup.id,
                          verification=outcome.verification, recovered=recovered)
    if opts.git_commit:
        result.git_committed = True
        result.git_commit = gitinfo.commit_deployment(
            plan.target, outcome.changed, f"claude-dc-streaming: {plan.operation} "
            f"{plan.manifest_version or ''} ({outcome.backup.id})".replace("  ", " "))
    return result


def _noop(plan: Plan, recovered: transaction.Recovery | None, dry_run: bool,
          interrupted: dict[str, Any] | None = None) -> ChangeResult:
    return ChangeResult(plan, dry_run=dry_run, recovered=recovered, interrupted=interrupted)


def integrate(opts: Options, ctx: Context, components: list[str] | None, flips: dict[str, bool]) -> ChangeResult:
    """Deploy ``components`` (``None`` = all; ``[]`` = what is installed) and set ``flips``, as one transaction."""
    target = _writable_target(opts)
    manifest = load_manifest(opts.manifest or default_manifest_path(ctx.project_root))
    store = BackupStore(opts.backup_dir)
    python = _agent_python(opts, ctx, target)

    def make_plan() -> Plan:
        state = gather_state(target, manifest)
        selected = list(manifest.components) if components is None else list(components)
        if not selected and state.receipt is None:
            raise UsageError("--integrate needs components: --all, --bash-tool, --file-tool, --screenshot-tool, "
                             "--metrics, --unified-streaming, --update-loop, --streamlit-ui or --update-ui",
                             hint="e.g. --integrate --all")
        plan = plan_integrate(manifest, selected, state, target, flips=flips, on_drift=opts.on_drift, python=python)
        python_deps.check(manifest, plan.components, ctx.agent_python or sys.executable, ctx.environ)
        verify_sources(manifest, ctx.project_root, plan.components)
        return plan

    interrupted = _interrupted(target)
    if opts.dry_run:
        return _noop(make_plan(), None, True, interrupted)
    if interrupted is None:
        make_plan()  # refuse bad manifests, sources, paths and drift before even creating the lock file
    with target_lock(target, ctx, opts.lock_timeout):
        failpoints.hit("after_lock")
        recovered = transaction.recover(target, store, ctx)
        plan = make_plan()
        if not plan.changed:
            return _noop(plan, recovered, False)
        return _execute(opts, ctx, plan, store, verify=opts.verify, recovered=recovered)


def set_toggles(opts: Options, ctx: Context, flips: dict[str, bool]) -> ChangeResult:
    """Flip toggles under the lock: one write, one revision bump, an audit line, then verification."""
    target = _writable_target(opts)
    store = BackupStore(opts.backup_dir)
    _agent_python(opts, ctx, target)
    interrupted = _interrupted(target)
    if opts.dry_run or interrupted is None:  # refuse what can be refused without taking the lock
        plan = plan_toggles(gather_state(target, None), target, flips)
        if opts.dry_run:
            return _noop(plan, None, True, interrupted)
    with target_lock(target, ctx, opts.lock_timeout):
        failpoints.hit("after_lock")
        recovered = transaction.recover(target, store, ctx)
        plan = plan_toggles(gather_state(target, None), target, flips)
        if not plan.changed:
            return _noop(plan, recovered, False)
        return _execute(opts, ctx, plan, store, verify=opts.verify, recovered=recovered)


def _restore_plan(target: Path, store: BackupStore, ident: str) -> tuple[Backup, Plan]:
    backup = store.get(target, ident)
    chain = store.restore_chain(target, backup)  # refuses (exit 6) if an unreadable backup may belong to it
    for b in chain:
        store.check(b)  # every hash of every backup of the chain before touching anything
    current = {rel: file_state(resolve_destination(target, rel)) for rel in restore_states(chain)}
    plan = plan_restore(chain, current, target)
    now = status_mod.installed(target)
    plan.previous_version = now.version if now else None
    if RECEIPT_PATH in backup.files:  # the restore brings back that backup's receipt (or its absence)
        plan.manifest_version = backup.meta.get("manifest_versions", {}).get("before")
        plan.components = list(backup.meta.get("components_before") or [])
    else:
        plan.manifest_version = plan.previous_version
        plan.components = list(now.components) if now else []
    return backup, plan


def restore(opts: Options, ctx: Context, ident: str) -> ChangeResult:
    """Put back what backup ``ident`` (or ``latest`` COMMITTED) recorded; itself backed up, so undoable."""
    target = _writable_target(opts)
    store = BackupStore(opts.backup_dir)
    interrupted = _interrupted(target)
    if opts.dry_run or interrupted is None:  # hashes checked before even creating the lock file
        backup, plan = _restore_plan(target, store, ident)
        if opts.dry_run:
            result = _noop(plan, None, True, interrupted)
            result.restored_from = backup.id
            return result
    with target_lock(target, ctx, opts.lock_timeout):
        failpoints.hit("after_lock")
        recovered = transaction.recover(target, store, ctx)
        backup, plan = _restore_plan(target, store, ident)
        if not plan.changed:
            result = _noop(plan, recovered, False)
        else:
            result = _execute(opts, ctx, plan, store, verify=False, recovered=recovered, restored_from=backup.id)
        result.restored_from = backup.id
        return result


def status(opts: Options, ctx: Context) -> StatusResult:
    target = resolve_target(opts.target)
    res = status_mod.collect(target, BackupStore(opts.backup_dir))
    res.metrics = summarize(ctx.metrics_dir) if ctx.metrics_dir is not None else None
    return res


def list_backups(opts: Options, ctx: Context) -> ListResult:
    """The target's backups, newest first (by sequence), unreadable ones included as UNREADABLE."""
    target = resolve_target(opts.target)
    backups = [b.summary() for b in reversed(BackupStore(opts.backup_dir).listing(target))]
    try:
        interrupted = _interrupted(target)
    except journal.JournalUnreadableError as exc:  # read-only: show it, with the command that gets out of it
        interrupted = {"message": f"{exc} (hint: {exc.hint})"}
    return ListResult(str(target), str(opts.backup_dir), backups, interrupted)


def prune(opts: Options, ctx: Context, keep: int) -> PruneResult:
    target = resolve_target(opts.target)
    store = BackupStore(opts.backup_dir)
    if opts.dry_run:
        doomed = store.prune_plan(target, keep)
        return PruneResult(True, keep, [b.id for b in doomed], [b.id for b in store.for_target(target) if b not in doomed],
                           [u.id for u in store.unreadable(target)])
    with target_lock(target, ctx, opts.lock_timeout):
        recovered = transaction.recover(target, store, ctx)
        doomed = store.prune_plan(target, keep)
        store.delete(doomed)
        kept = [b.id for b in store.for_target(target)]
    return PruneResult(False, keep, [b.id for b in doomed], kept, [u.id for u in store.unreadable(target)], recovered)


def build_manifest(ctx: Context, version: str, output: Path | None, force: bool = False) -> BuildResult:
    if not version:
        raise UsageError("--build-manifest needs --version X.Y.Z", hint="e.g. --build-manifest --version 1.0.1")
    res = _build(ctx.project_root, version, output, created_at=ctx.now_iso(),
                 project_commit=gitinfo.project_commit(ctx.project_root), force=force)
    return BuildResult(**res.as_dict())


__all__ = ["DeployError", "LOOP_FILE", "Options", "Result", "build_manifest", "integrate", "list_backups", "prune",
           "restore", "set_toggles", "status"]
