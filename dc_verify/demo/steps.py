"""The demo's step machinery: run a command, show it and its output, show what it changed, judge it."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STEP_TIMEOUT_S = 300.0
SKIP_PARTS = ("__pycache__",)
# The installer's lock sidecar holds the last holder's pid/host/command: not part of a deployment.
SKIP_NAMES = (".dc-streaming.lock",)


@dataclass(frozen=True)
class StepOutcome:
    number: int
    title: str
    status: str  # "ok", "failed", "unavailable"
    note: str


def tree_snapshot(root: Path) -> dict[str, str]:
    """relpath -> sha256 (or ``link:<target>``) for every file under ``root``, caches excluded."""
    snap: dict[str, str] = {}
    if not root.exists():
        return snap
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in SKIP_PARTS for part in rel.parts) or rel.name in SKIP_NAMES:
            continue
        if path.is_symlink():
            snap[rel.as_posix()] = f"link:{os.readlink(path)}"
        elif path.is_file():
            mode = path.stat().st_mode & 0o7777
            snap[rel.as_posix()] = f"{hashlib.sha256(path.read_bytes()).hexdigest()}:{mode:04o}"
    return snap


def snapshot_digest(snap: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(snap, sort_keys=True).encode()).hexdigest()


def diff_snapshots(before: dict[str, str], after: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    return added, changed, removed


def _argv_text(argv: Sequence[Any]) -> str:
    return shlex.join(["python", *(str(a) for a in argv)])


class DemoRunner:
    def __init__(self, console: Console, workdir: Path) -> None:
        self.console = console
        self.workdir = workdir
        self.target = workdir / "production" / "computer_use_demo"
        self.backups = workdir / "backups"
        self.verify_script = PROJECT_ROOT / "verify_streaming.py"
        self.integrate_script = PROJECT_ROOT / "integrate_streaming.py"
        self.outcomes: list[StepOutcome] = []
        self.manifest: Path | None = None  # None: the installer's default (newest shipped manifest)

    def prepare_target(self) -> None:
        shutil.copytree(PROJECT_ROOT / "examples" / "computer_use_demo", self.target,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        self.console.print(Rule("[bold]claude-dc-streaming rollout demo"))
        self.console.print(f"production tree: {self.target} (a fresh copy of examples/computer_use_demo)")
        self.console.print(f"backups:         {self.backups}\n")

    def integrate(self, *args: str) -> list[Any]:
        manifest = ["--manifest", self.manifest] if self.manifest is not None else []
        return [self.integrate_script, "--target", self.target, "--backup-dir", self.backups, *manifest, *args]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["COLUMNS"] = str(self.console.width)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        if self.console.is_terminal:
            env["FORCE_COLOR"] = "1"
        return env

    def run(self, argv: Sequence[Any], *, cwd: Path | None = None, show: bool = True) -> tuple[int, str, str]:
        if show:
            self.console.print(Text(f"$ {_argv_text(argv)}", style="bold cyan"))
        try:
            proc = subprocess.run([sys.executable, *(str(a) for a in argv)], capture_output=True, text=True,
                                  cwd=cwd or self.workdir, env=self._env(), timeout=STEP_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            return 124, str(exc.stdout or ""), f"timed out after {STEP_TIMEOUT_S:g} s"
        if show:
            for stream in (proc.stdout, proc.stderr):
                if stream.strip():
                    self.console.print(Text.from_ansi(stream.rstrip("\n")), soft_wrap=True)
            self.console.print(f"[dim]exit code {proc.returncode}[/]")
        return proc.returncode, proc.stdout, proc.stderr

    def run_live(self, argv: Sequence[Any], *, cwd: Path | None = None) -> int:
        self.console.print(Text(f"$ {_argv_text(argv)}", style="bold cyan"))
        try:
            return subprocess.run([sys.executable, *(str(a) for a in argv)], cwd=cwd or self.workdir,
                                  env=self._env(), timeout=STEP_TIMEOUT_S).returncode
        except subprocess.TimeoutExpired:
            return 124

    def toggles(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.target / "dc_impl" / "feature_toggles.json").read_text())
        except (OSError, ValueError):
            return None

    def show_changes(self, before: dict[str, str], after: dict[str, str], t_before: Any, t_after: Any) -> None:
        added, changed, removed = diff_snapshots(before, after)
        if not (added or changed or removed):
            self.console.print(f"[bold]changed:[/] nothing (tree digest {snapshot_digest(after)[:16]})")
        for label, items, style in (("added", added, "green"), ("changed", changed, "yellow"),
                                    ("removed", removed, "red")):
            if items:
                shown = ", ".join(items[:12]) + (f", ... ({len(items)} files)" if len(items) > 12 else "")
                self.console.print(f"[bold {style}]{label}:[/] {shown}")
        if t_before != t_after:
            old, new = t_before or {}, t_after or {}
            if not old or not new:
                on = [k for k, v in sorted(new.items()) if v is True] or ["none"]
                what = f"created (revision {new.get('revision')}), on: {', '.join(on)}" if new else "removed"
                self.console.print(f"[bold]toggles file:[/] {what}")
            else:
                flips = [f"{k} {old.get(k)} -> {new.get(k)}" for k in sorted(set(old) | set(new))
                         if old.get(k) != new.get(k)]
                self.console.print(f"[bold]toggles:[/] {'; '.join(flips)}")

    def heading(self, number: int, title: str) -> None:
        self.console.print()
        self.console.print(Rule(f"[bold]Step {number}: {title}", align="left"))

    def step(
        self,
        number: int,
        title: str,
        argv: Sequence[Any],
        *,
        expect_rc: int,
        read_only: bool = False,
        expect_unchanged: bool = False,
        expect_toggles: dict[str, bool] | None = None,
        expect_added: Sequence[str] = (),
        expect_removed: Sequence[str] = (),
        extra_check: Callable[[], str | None] | None = None,
        show_heading: bool = True,
    ) -> bool:
        if show_heading:
            self.heading(number, title)
        before, t_before = tree_snapshot(self.target), self.toggles()
        rc, out, err = self.run(argv)
        after, t_after = tree_snapshot(self.target), self.toggles()
        self.show_changes(before, after, t_before, t_after)
        problems: list[str] = []
        if rc != expect_rc:
            problems.append(f"exit code {rc}, expected {expect_rc}")
        added, changed, removed = diff_snapshots(before, after)
        if read_only and (added or changed or removed):
            problems.append(f"a read-only command changed the tree: {added + changed + removed}")
        if expect_unchanged:
            same = snapshot_digest(before) == snapshot_digest(after)
            self.console.print(f"tree digest before {snapshot_digest(before)[:16]}, after "
                               f"{snapshot_digest(after)[:16]}: {'identical' if same else 'DIFFERENT'}")
            if not same:
                problems.append(f"the tree changed: added {added}, changed {changed}, removed {removed}")
        for key, value in (expect_toggles or {}).items():
            if (t_after or {}).get(key) is not value:
                problems.append(f"toggle {key} is {(t_after or {}).get(key)}, expected {value}")
        problems += [f"{p} was not added" for p in expect_added if p not in added]
        problems += [f"{p} was not removed" for p in expect_removed if p not in removed]
        if extra_check is not None and not problems:
            extra = extra_check()
            if extra:
                problems.append(extra)
        summary = f"{len(added)} added, {len(changed)} changed, {len(removed)} removed" \
            if added or changed or removed else "tree unchanged"
        note = "; ".join(problems) or f"exit code {rc} as expected; {summary}"
        self.record(StepOutcome(number, title, "failed" if problems else "ok", note))
        return not problems

    def unavailable(self, number: int, title: str, why: str) -> None:
        self.heading(number, title)
        self.record(StepOutcome(number, title, "unavailable", why))

    def record(self, outcome: StepOutcome) -> None:
        self.outcomes.append(outcome)
        style = {"ok": "green", "failed": "bold red", "unavailable": "yellow"}[outcome.status]
        self.console.print(f"[{style}]step {outcome.number} {outcome.status.upper()}[/]: {outcome.note}")

    def backups_json(self) -> list[dict[str, Any]]:
        rc, out, _ = self.run(self.integrate("--list-backups", "--json"), show=False)
        if rc != 0:
            return []
        try:
            doc = json.loads(out)
        except ValueError:
            return []
        items = doc.get("backups", doc) if isinstance(doc, dict) else doc
        return [b for b in items if isinstance(b, dict)] if isinstance(items, list) else []

    def expect_backups(self, at_least: int) -> str | None:
        found = self.backups_json()
        return None if len(found) >= at_least else f"--list-backups --json lists {len(found)} backups, " \
                                                   f"expected at least {at_least}"

    def backup_with_reason(self, reason: str) -> str | None:
        for backup in self.backups_json():
            if str(backup.get("reason", "")).startswith(reason):
                return str(backup.get("id"))
        return None

    @staticmethod
    def summary(console: Console, outcomes: list[StepOutcome]) -> bool:
        table = Table(title="demo summary", title_justify="left")
        table.add_column("step", justify="right")
        table.add_column("what")
        table.add_column("result")
        table.add_column("note", overflow="fold")
        style = {"ok": "green", "failed": "bold red", "unavailable": "yellow"}
        for o in outcomes:
            table.add_row(str(o.number), o.title, f"[{style[o.status]}]{o.status}[/]", o.note)
        console.print()
        console.print(table)
        ok = bool(outcomes) and all(o.status == "ok" for o in outcomes)
        console.print("[green]demo completed: every step behaved as expected[/]" if ok else
                      "[bold red]demo incomplete: see the steps above[/]")
        return ok
