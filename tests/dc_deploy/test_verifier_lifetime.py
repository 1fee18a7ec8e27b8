"""The verifier never outlives the installer: SIGKILL the installer while verification runs and the
verifier (and its checks child) go too, instead of running on in their own session."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from dc_deploy.build import build_manifest

REPO = Path(__file__).resolve().parents[2]


def make_target(parent: Path) -> Path:
    target = parent / "computer_use_demo"
    shutil.copytree(REPO / "examples" / "computer_use_demo", target,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tests"))
    return target


def _procs() -> list[tuple[int, str, int, int]]:
    """(pid, state, ppid, pgid) of every process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found.append((int(entry.name), fields[0], int(fields[1]), int(fields[2])))
    return found


def _children_of(pid: int) -> list[int]:
    return [p for p, _, ppid, _ in _procs() if ppid == pid]


def _group_alive(pgid: int) -> bool:
    """Any live (non-zombie) process in the group: an orphaned zombie waits for init to reap it."""
    return any(g == pgid and state != "Z" for _, state, _, g in _procs())


def test_verifier_dies_with_a_sigkilled_installer(tmp_path: Path) -> None:
    manifest = tmp_path / "m.json"
    build_manifest(REPO, "1.0.0", manifest, created_at="2026-11-28T00:00:00Z", project_commit=None)
    target = make_target(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("DC_VERIFY_COMMAND", "DC_FAILPOINT")}
    installer = subprocess.Popen(
        [sys.executable, str(REPO / "integrate_streaming.py"), "--integrate", "--bash-tool", "--target", str(target),
         "--backup-dir", str(tmp_path / "b"), "--manifest", str(manifest), "--no-progress"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    verifier = None
    deadline = time.monotonic() + 60
    while verifier is None and time.monotonic() < deadline and installer.poll() is None:
        for pid in _children_of(installer.pid):
            try:
                if b"verify_streaming.py" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    verifier = pid
            except OSError:
                pass
        time.sleep(0.02)
    assert verifier is not None, "the installer never started the verifier"
    time.sleep(0.3)  # let it arm its death signal and start its checks child; the suite takes seconds more
    installer.send_signal(signal.SIGKILL)
    installer.wait()
    deadline = time.monotonic() + 1.0  # the kernel's death signal is immediate; finishing the suite is not
    while _group_alive(verifier) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _group_alive(verifier), "verifier (or its checks child) outlived the installer"
