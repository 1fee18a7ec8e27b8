"""Rich tables for people, one JSON document for machines. No business logic here."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import DeployError
from .metrics_summary import render_lines as render_metric_lines
from .results import (
    ChangeResult,
    ListResult,
    PruneResult,
    RepairResult,
    Result,
    StatusResult,
    json_document,
)

STATUS_STYLE = {"COMMITTED": "green", "FAILED": "red", "ROLLED_BACK": "yellow", "INCOMPLETE": "magenta",
                "UNREADABLE": "bold red"}


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "-"


def to_json(result: Result) -> str:
    return json.dumps(json_document(result), indent=2, default=str)


def error_json(exc: DeployError, command: str | None) -> str:
    doc: dict[str, Any] = {"ok": False, "command": command, "error": exc.as_dict()}
    for key in ("verification", "plan", "backup_id", "drift"):
        if key in exc.data:
            doc[key] = exc.data[key]
    return json.dumps(doc, indent=2, default=str)


def plan_table(actions: list[dict[str, Any]], title: str) -> Table:
    table = Table("action", "path", "component", "old sha256", "new sha256", "detail", title=title,
                  title_justify="left")
    for a in actions:
        table.add_row(a["action"], a["path"], a["component"] or "", _short(a["old_sha256"]),
                      _short(a["new_sha256"]) if a["new_sha256"] else
                      "(removed)" if a["action"] == "delete" else "(generated)", a["detail"])
    return table


def _interrupted(console: Console, interrupted: dict[str, Any] | None, in_progress: dict[str, Any] | None = None) -> None:
    if interrupted:
        console.print(f"[bold yellow]warning:[/] {interrupted['message']}")
    if in_progress:
        console.print(f"[bold]in progress:[/] {escape(in_progress['message'])}")


def render(result: Result, console: Console) -> None:
    if isinstance(result, ChangeResult):
        render_change(result, console)
    elif isinstance(result, ListResult):
        render_list(result, console)
    elif isinstance(result, StatusResult):
        render_status(result, console)
    elif isinstance(result, RepairResult):
        render_repair(result, console)
    elif isinstance(result, PruneResult):
        verb = "would delete" if result.dry_run else "deleted"
        console.print(f"{verb} {len(result.deleted)} backup(s): {', '.join(result.deleted) or '-'}; "
                      f"kept {len(result.kept)}")
    else:
        console.print(f"wrote {result.path} (version {result.version})")
        for cid, files in result.components.items():
            console.print(f"  {cid}: {len(files)} file(s)")
        if result.unassigned:
            console.print(f"[yellow]warning[/]: files under dc_impl/ in no component: {', '.join(result.unassigned)}")


def render_change(r: ChangeResult, console: Console) -> None:
    plan = r.plan
    _interrupted(console, None if r.executed else r.interrupted)
    if r.recovered:
        console.print(f"recovered: {r.recovered.action} the interrupted {r.recovered.operation} {r.recovered.txid}")
    label = {"integrate": f"deploy {plan.manifest_name or ''} {plan.manifest_version or ''}",
             "toggles": "toggles", "restore": f"restore from {r.restored_from}"}[r.kind]
    if not plan.actions:
        console.print(f"{label.strip()}: nothing to do (already up to date; no backup taken)")
    else:
        title = f"plan: {label.strip()}" + (" (dry run: nothing written)" if r.dry_run else "")
        console.print(plan_table([a.as_dict() for a in plan.actions], title))
    for item in plan.drift:
        console.print(f"[yellow]drift kept[/]: {item['path']}" if item["path"] in plan.kept
                      else f"[yellow]drift overwritten[/]: {item['path']}")
    for item in plan.hand_edits:
        console.print(f"[bold yellow]warning:[/] {escape(item['path'])} {escape(item['detail'])}")
    for k, v in plan.flips.items():
        console.print(f"toggle {k}: {str(v['old']).lower()} -> {str(v['new']).lower()}")
    if r.verification:
        console.print(r.verification.summary())
    if r.backup_id:
        console.print(f"[green]done[/]: backup {r.backup_id} (undo with --restore {r.backup_id})")
    if r.git_commit:
        console.print(f"committed to the target's git repository: {r.git_commit[:12]}")


def render_list(r: ListResult, console: Console) -> None:
    _interrupted(console, r.interrupted)
    table = Table("seq", "id", "created (UTC)", "status", "operation", "version", "components", "files",
                  "bytes", "reason", title=f"backups of {r.target} (newest first)", title_justify="left")
    for b in r.backups:
        style = STATUS_STYLE.get(b["status"], "")
        seq = "-" if b.get("sequence") is None else str(b["sequence"])
        if b["status"] == "UNREADABLE":
            table.add_row(seq, escape(b["id"]), b["created_at"] or "?", f"[{style}]UNREADABLE[/]", "", "", "",
                          "", "", escape(b.get("error") or ""))
            continue
        table.add_row(seq, b["id"], b["created_at"] or "", f"[{style}]{b['status']}[/]", b["operation"] or "",
                      b["manifest_version"] or "-", ", ".join(b["components"]), str(b["files"]), str(b["bytes"]),
                      escape(b["reason"] or ""))
    console.print(table if r.backups else f"no backups of {r.target} in {r.backup_dir}")
    for b in r.backups:
        if b["status"] == "UNREADABLE":
            console.print(f"[bold red]unreadable[/]: {escape(b['id'])}: {escape(b.get('error') or '')} "
                          "(restores it may belong to are refused; see 'Unreadable backups' in "
                          "docs/operations.md)", highlight=False, soft_wrap=True)


def render_status(r: StatusResult, console: Console) -> None:
    _interrupted(console, r.interrupted, r.in_progress)
    rc = r.receipt
    if rc is not None:
        console.print(f"[bold]{r.target}[/]: {rc.name} {rc.version} installed at {rc.installed_at}"
                      f" (backup {rc.backup_id})")
        console.print(f"components: {', '.join(rc.components)}")
        console.print(f"agent python: {r.python} (recorded; verification runs there)" if r.python else
                      f"agent python: not recorded (verification runs in the installer's {r.verify_python}; "
                      "record the agent's with --integrate --python PATH)")
    else:
        console.print(f"[bold]{r.target}[/]: nothing installed" +
                      (f" ({r.receipt_error})" if r.receipt_error else ""))
    if r.toggles:
        t = r.toggles
        console.print(f"toggles (revision {t['revision']}): " +
                      ", ".join(f"{k}={'on' if v else 'off'}" for k, v in t.items() if k != "revision"))
    elif r.toggles_error:
        console.print(f"[red]toggles invalid[/]: {escape(r.toggles_error)} (rebuild it from the receipt and the "
                      "audit log with --repair)")
    if r.drift:
        table = Table("path", "recorded", "current", "detail", title="drift (changed by hand)", title_justify="left")
        for item in r.drift:
            table.add_row(item["path"], _short(item["recorded_sha256"]), _short(item["current_sha256"]),
                          item.get("detail", ""))
        console.print(table)
    elif r.installed:
        console.print("drift: none")
    lb = r.last_backup
    console.print(f"last backup: {lb['id']} {lb['status']} ({lb['operation']}, {lb['created_at']})" if lb
                  else "last backup: none")
    if r.metrics:
        for line in render_metric_lines(r.metrics):
            console.print(line, markup=False, highlight=False)


def render_repair(r: RepairResult, console: Console) -> None:
    j, t = r.journal, r.toggles
    if j:
        where = f"set aside as {j.set_aside_as}" if j.set_aside_as else "would be set aside (dry run)"
        console.print(f"[yellow]journal unreadable[/]: {escape(j.problem)}; {escape(where)}")
        console.print(f"tree check: {escape(j.verdict)}")
        if j.next:
            console.print(f"[bold]next:[/] {escape(j.next)}")
    if t and t.source and t.toggles is not None:
        flags = ", ".join(f"{k}={'on' if v else 'off'}" for k, v in t.toggles.items() if k != "revision")
        console.print(f"[yellow]toggles repaired[/]: {escape(t.problem or '')}")
        console.print(f"rewritten from {escape(t.source)}: revision {t.toggles['revision']}: {flags}")
        if t.verification:
            console.print(t.verification.summary())
        console.print(f"[green]done[/]: backup {t.backup_id} keeps the old file (undo with --restore "
                      f"{t.backup_id})")
    elif t and t.problem:
        console.print(f"toggles: {escape(t.problem)} (would be rewritten)")
    if not j and not (t and t.problem):
        console.print(f"{r.target}: nothing to repair (journal and toggles are fine)")


def render_error(exc: DeployError, err: Console) -> None:
    """One line: what happened and, when known, the fix; then the failing checks of a verification."""
    hint = f" [bold](hint:[/] {escape(exc.hint)}[bold])[/]" if exc.hint else ""
    err.print(f"[bold red]error:[/] {escape(exc.message)}{hint}", highlight=False, soft_wrap=True)
    verification = exc.data.get("verification")
    if verification:
        for check in verification.get("failing", []):
            detail = str(check.get("detail") or "").strip().splitlines()
            err.print(f"  [red]FAIL[/] {escape(str(check.get('name')))}: {escape(detail[-1]) if detail else ''}",
                      highlight=False)
        if not verification.get("failing") and verification.get("output_tail"):
            err.print(verification["output_tail"].rstrip()[-800:], highlight=False, markup=False)
