"""``make demo``: the whole rollout story on a fresh copy of ``examples/computer_use_demo``.

Every step runs the real command-line tools as subprocesses (``verify_streaming.py``,
``integrate_streaming.py``, ``python -m dc_impl.chat``) against a throwaway production tree, shows the
command, its output and what it changed (files added / changed / removed, toggles), and checks that
it behaved as expected. The demo exits non-zero when any step does not. A step whose tool is not in
this checkout is reported as unavailable, never simulated.

This module never imports ``dc_deploy``: the installer is only ever run as a process.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import click
from rich.console import Console

from .sandbox import apply_breakage
from .steps import PROJECT_ROOT, DemoRunner, StepOutcome, diff_snapshots, tree_snapshot

BROKEN_VERSION = "9.9.9"
FRESH_VERSION = "1.0.0"
DEMO_PROMPT = "Run a quick health check, then write and show a notes file."
PROJECT_COPY_ITEMS = ("dc_impl", "dc_deploy", "dc_verify", "manifests", "integrate_streaming.py",
                      "verify_streaming.py")


def _copy_project(dest: Path) -> Path:
    """A copy of the project's code (no venv, no backups) to build a broken release from."""
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for item in PROJECT_COPY_ITEMS:
        src = PROJECT_ROOT / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=ignore)
        elif src.is_file():
            shutil.copy2(src, dest / item)
    return dest


def _fresh_manifest(d: DemoRunner) -> bool:
    """Build a manifest of the current sources (for development checkouts whose shipped one lags)."""
    d.heading(0, "Build a manifest of the current sources (--fresh-manifest)")
    out = d.workdir / "manifests" / f"streaming-{FRESH_VERSION}.json"
    rc, _, err = d.run([d.integrate_script, "--build-manifest", "--version", FRESH_VERSION, "--output", out])
    if rc != 0 or not out.is_file():
        d.record(StepOutcome(0, "Build a fresh manifest", "failed", f"--build-manifest exited {rc}: {err[-300:]}"))
        return False
    d.manifest = out
    return True


def run_demo(console: Console, workdir: Path, *, fresh_manifest: bool = False) -> list[StepOutcome]:
    d = DemoRunner(console, workdir)
    d.prepare_target()
    have_installer = d.integrate_script.is_file()
    missing = f"{d.integrate_script.name} is not in this checkout yet"
    if have_installer and fresh_manifest and not _fresh_manifest(d):
        return d.outcomes

    d.step(1, "Verify the implementation (the project's own dc_impl)",
           [d.verify_script], expect_rc=0, read_only=True)

    if not have_installer:
        for n, title in ((2, "Integrate the streaming bash tool with its toggle"), (3, "Integrate the file tool"),
                         (4, "Integrate unified streaming and the loop hook"), (5, "List backups"),
                         (6, "A broken component is deployed and automatically restored"),
                         (7, "Restore an earlier backup"), (8, "Status")):
            d.unavailable(n, title, missing)
    else:
        d.step(2, "Integrate the streaming bash tool and switch it on",
               d.integrate("--integrate", "--bash-tool", "--enable-streaming-bash=true", "--reason", "demo step 2"),
               expect_rc=0, expect_toggles={"use_streaming_bash": True}, expect_added=["dc_impl/tools/dc_bash.py"])
        after_step2 = tree_snapshot(d.target)
        d.step(3, "Integrate the streaming file tool and switch it on",
               d.integrate("--integrate", "--file-tool", "--enable-streaming-file=true", "--reason", "demo step 3"),
               expect_rc=0, expect_toggles={"use_streaming_file": True}, expect_added=["dc_impl/tools/dc_file.py"])
        d.step(4, "Integrate unified streaming (+ --update-loop) and switch it on",
               d.integrate("--integrate", "--unified-streaming", "--update-loop", "--enable-unified-streaming=true",
                           "--enable-streaming-thinking=true", "--reason", "demo step 4"),
               expect_rc=0, expect_toggles={"use_unified_streaming": True},
               expect_added=["dc_impl/unified_streaming_loop.py"])
        d.step(5, "List the backups taken so far", d.integrate("--list-backups"), expect_rc=0, read_only=True,
               extra_check=lambda: d.expect_backups(at_least=3))
        _broken_release_step(d)
        backup = d.backup_with_reason("demo step 3")
        if backup is None:
            d.heading(7, "Restore an earlier backup")
            d.record(StepOutcome(7, "Restore an earlier backup", "failed",
                                 "no backup with reason 'demo step 3' in --list-backups --json"))
        else:
            d.step(7, f"Restore the backup taken before step 3 ({backup}): back to bash tool only",
                   d.integrate("--restore", backup, "--reason", "demo step 7"), expect_rc=0,
                   expect_removed=["dc_impl/tools/dc_file.py", "dc_impl/unified_streaming_loop.py"],
                   extra_check=lambda: _same_tree(d, after_step2, "the tree after step 2"))
        d.step(8, "Status of the production tree", d.integrate("--status"), expect_rc=0, read_only=True)

    _chat_step(d)
    if have_installer:
        d.step(10, "Phase 2: integrate the streaming screenshot tool and switch it on",
               d.integrate("--integrate", "--screenshot-tool", "--enable-streaming-screenshot=true",
                           "--reason", "demo step 10"),
               expect_rc=0, expect_toggles={"use_streaming_screenshot": True},
               expect_added=["dc_impl/tools/dc_screenshot.py"])
    return d.outcomes


def _same_tree(d: DemoRunner, expected: dict[str, str], what: str) -> str | None:
    added, changed, removed = diff_snapshots(expected, tree_snapshot(d.target))
    if added or changed or removed:
        return f"not byte-identical to {what}: added {added}, changed {changed}, removed {removed}"
    d.console.print(f"[bold]byte-identical to {what}[/] (every file's content and mode)")
    return None


def _broken_release_step(d: DemoRunner) -> None:
    title = "A broken bash tool (buffers its output) is deployed, caught by verification, restored"
    d.heading(6, title)
    copy = _copy_project(d.workdir / "broken-project")
    broken = apply_breakage(copy, "bash-buffers")
    d.console.print(f"[dim]made a broken release in {copy}: {broken.relative_to(copy)} now holds every output "
                    "chunk until the command ends[/]")
    out_path = copy / "manifests" / f"streaming-{BROKEN_VERSION}.json"
    rc, out, err = d.run([copy / "integrate_streaming.py", "--build-manifest", "--version", BROKEN_VERSION,
                          "--output", out_path])
    manifests = sorted((copy / "manifests").glob(f"streaming-{BROKEN_VERSION}.json"))
    if rc != 0 or not manifests:
        d.record(StepOutcome(6, title, "failed", f"--build-manifest exited {rc}, manifest {manifests}: "
                                                 f"{(err or out)[-300:]}"))
        return
    d.step(6, title,
           [copy / "integrate_streaming.py", "--target", d.target, "--backup-dir", d.backups,
            "--manifest", manifests[-1], "--integrate", "--bash-tool", "--enable-streaming-bash=true",
            "--reason", "demo step 6 (broken release)"],
           expect_rc=3, expect_unchanged=True, show_heading=False)


def _chat_step(d: DemoRunner) -> None:
    title = "One streamed agent turn, rendered live (scripted server, scenario 'demo')"
    d.heading(9, title)
    if not (PROJECT_ROOT / "dc_impl" / "chat.py").is_file():
        d.record(StepOutcome(9, title, "unavailable", "dc_impl/chat.py is not in this checkout yet"))
        return
    from ..fake_api.scripted_server import ScriptedServer, load_scenario

    scratch = d.workdir / "agent-scratch"
    scratch.mkdir(exist_ok=True)
    with ScriptedServer(load_scenario("demo", {"WORKDIR": str(scratch)})) as srv:
        cmd = ["-m", "dc_impl.chat", "--base-url", srv.base_url, "--api-key", "demo-scripted",
               "--tool-version", "computer_use_20250429", "--thinking-budget", "2048", "--prompt", DEMO_PROMPT]
        rc = d.run_live(cmd, cwd=PROJECT_ROOT)
        served, violations = srv.turns_served, [f"{v.rule}: {v.message}" for v in srv.violations]
        total = len(srv.scenario.turns)
    notes = scratch / "notes.md"
    problems = []
    if rc != 0:
        problems.append(f"chat exited {rc}")
    if served != total:
        problems.append(f"{served} of {total} scripted turns served")
    if violations:
        problems.append(f"request violations: {violations[:2]}")
    if not notes.is_file():
        problems.append("the edit tool did not create notes.md")
    note = "; ".join(problems) or f"{served} turns streamed, 0 request violations, {notes.name} written"
    d.record(StepOutcome(9, title, "failed" if problems else "ok", note))


@click.command()
@click.option("--keep", is_flag=True, help="Keep the temporary directory (production copy, backups).")
@click.option("--workdir", type=click.Path(path_type=Path, file_okay=False),
              help="Use this (new or empty) directory instead of a temporary one; implies --keep.")
@click.option("--fresh-manifest", is_flag=True,
              help="Deploy a manifest built from the current sources instead of the shipped release manifest.")
def main(keep: bool, workdir: Path | None, fresh_manifest: bool) -> None:
    """Run the rollout demo on a fresh copy of examples/computer_use_demo."""
    console = Console()
    base = workdir or Path(tempfile.mkdtemp(prefix="dc-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        outcomes = run_demo(console, base, fresh_manifest=fresh_manifest)
    finally:
        if keep or workdir:
            console.print(f"[dim]kept {base}[/]")
        else:
            shutil.rmtree(base, ignore_errors=True)
    ok = DemoRunner.summary(console, outcomes)
    sys.exit(0 if ok else 1)
