"""Rich tables for people, one JSON document for machines. No business logic here."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .api import Result
from .errors import DeployError
from .metrics_summary import render_lines as render_metric_lines

STATUS_STYLE = {"COMMITTED": "green", "FAILED": "red", "ROLLED_BACK": "yellow", "INCOMPLETE": "magenta",
                "UNREADABLE": "bold red"}


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "-"


def to_json(result: Result) -> str:
    if result.kind == "list":  # the contract: a JSON list of backup objects, newest first
        return json.dumps(result.data["backups"], indent=2, default=str)
    return json.dumps({"ok": True, **result.as_dict()}, indent=2, default=str)


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


def _interrupted(console: Console, data: dict[str, Any]) -> None:
    intr = data.get("interrupted")
    if intr:
        console.print(f"[bold yellow]warning:[/] {intr['message']}")
    if data.get("in_progress"):
        console.print(f"[bold]in progress:[/] {escape(data['in_progress']['message'])}")


def render(result: Result, console: Console) -> None:
    d = result.data
    kind = result.kind
    if kind in ("integrate", "toggles", "restore"):
        _interrupted(console, d)
        if d.get("recovered"):
            r = d["recovered"]
            console.print(f"recovered: {r['action']} the interrupted {r['operation']} {r['txid']}")
        label = {"integrate": f"deploy {d.get('manifest') or ''} {d.get('manifest_version') or ''}",
                 "toggles": "toggles", "restore": f"restore from {d.get('restored_from')}"}[kind]
        if not d["actions"]:
            console.print(f"{label.strip()}: nothing to do (already up to date; no backup taken)")
        else:
            title = f"plan: {label.strip()}" + (" (dry run: nothing written)" if d["dry_run"] else "")
            console.print(plan_table(d["actions"], title))
        for item in d.get("drift") or []:
            console.print(f"[yellow]drift kept[/]: {item['path']}" if item["path"] in d.get("kept", [])
                          else f"[yellow]drift overwritten[/]: {item['path']}")
        for item in d.get("hand_edits") or []:
            console.print(f"[bold yellow]warning:[/] {escape(item['path'])} {escape(item['detail'])}")
        for k, v in (d.get("flips") or {}).items():
            console.print(f"toggle {k}: {str(v['old']).lower()} -> {str(v['new']).lower()}")
        if d.get("verification"):
            console.print(d["verification"].get("summary") or
                          f"verification passed ({len(d['verification']['checks'])} checks)")
        if d.get("backup_id"):
            console.print(f"[green]done[/]: backup {d['backup_id']} (undo with --restore {d['backup_id']})")
        if d.get("git_commit"):
            console.print(f"committed to the target's git repository: {d['git_commit'][:12]}")
    elif kind == "list":
        _interrupted(console, d)
        table = Table("seq", "id", "created (UTC)", "status", "operation", "version", "components", "files",
                      "bytes", "reason", title=f"backups of {d['target']} (newest first)", title_justify="left")
        for b in d["backups"]:
            style = STATUS_STYLE.get(b["status"], "")
            seq = "-" if b.get("sequence") is None else str(b["sequence"])
            if b["status"] == "UNREADABLE":
                table.add_row(seq, escape(b["id"]), b["created_at"] or "?", f"[{style}]UNREADABLE[/]", "", "", "",
                              "", "", escape(b.get("error") or ""))
                continue
            table.add_row(seq, b["id"], b["created_at"] or "", f"[{style}]{b['status']}[/]", b["operation"] or "",
                          b["manifest_version"] or "-", ", ".join(b["components"]), str(b["files"]), str(b["bytes"]),
                          escape(b["reason"] or ""))
        console.print(table if d["backups"] else f"no backups of {d['target']} in {d['backup_dir']}")
        for b in d["backups"]:
            if b["status"] == "UNREADABLE":
                console.print(f"[bold red]unreadable[/]: {escape(b['id'])}: {escape(b.get('error') or '')} "
                              "(restores it may belong to are refused; see 'Unreadable backups' in "
                              "docs/operations.md)", highlight=False, soft_wrap=True)
    elif kind == "status":
        render_status(d, console)
    elif kind == "repair":
        from .repair import render as render_repair

        render_repair(d, console)
    elif kind == "prune":
        verb = "would delete" if d["dry_run"] else "deleted"
        console.print(f"{verb} {len(d['deleted'])} backup(s): {', '.join(d['deleted']) or '-'}; "
                      f"kept {len(d['kept'])}")
    elif kind == "build":
        console.print(f"wrote {d['path']} (version {d['version']})")
        for cid, files in d["components"].items():
            console.print(f"  {cid}: {len(files)} file(s)")
        if d["unassigned"]:
            console.print(f"[yellow]warning[/]: files under dc_impl/ in no component: {', '.join(d['unassigned'])}")


def render_status(d: dict[str, Any], console: Console) -> None:
    _interrupted(console, d)
    if d["installed"]:
        console.print(f"[bold]{d['target']}[/]: {d.get('name')} {d['version']} installed at {d.get('installed_at')}"
                      f" (backup {d.get('backup_id')})")
        console.print(f"components: {', '.join(d['components'])}")
        console.print(f"agent python: {d['python']} (recorded; verification runs there)" if d.get("python") else
                      f"agent python: not recorded (verification runs in the installer's {d.get('verify_python')}; "
                      "record the agent's with --integrate --python PATH)")
    else:
        console.print(f"[bold]{d['target']}[/]: nothing installed" +
                      (f" ({d['receipt_error']})" if d.get("receipt_error") else ""))
    if d.get("toggles"):
        t = d["toggles"]
        console.print(f"toggles (revision {t['revision']}): " +
                      ", ".join(f"{k}={'on' if v else 'off'}" for k, v in t.items() if k != "revision"))
    elif d.get("toggles_error"):
        console.print(f"[red]toggles invalid[/]: {escape(d['toggles_error'])} (rebuild it from the receipt and the "
                      "audit log with --repair)")
    if d["drift"]:
        table = Table("path", "recorded", "current", "detail", title="drift (changed by hand)", title_justify="left")
        for item in d["drift"]:
            table.add_row(item["path"], _short(item["recorded_sha256"]), _short(item["current_sha256"]),
                          item.get("detail", ""))
        console.print(table)
    elif d["installed"]:
        console.print("drift: none")
    lb = d.get("last_backup")
    console.print(f"last backup: {lb['id']} {lb['status']} ({lb['operation']}, {lb['created_at']})" if lb
                  else "last backup: none")
    if d.get("metrics"):
        for line in render_metric_lines(d["metrics"]):
            console.print(line, markup=False, highlight=False)


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
