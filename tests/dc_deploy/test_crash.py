"""Real processes killed at failpoints (SIGKILL) or interrupted by signals; the next command recovers.

Oracle: the tree digest after recovery equals the old state (or the new one once committed), and
nothing of the transaction (journal, temp files) is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dc_deploy import failpoints
from dc_deploy.digest import tree_digest
from dc_deploy.journal import JOURNAL_NAME


def cli(env: dict[str, str], snapshot: Path, *args: str, extra: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(snapshot / "integrate_streaming.py"), *args],
                          env={**env, **(extra or {})}, capture_output=True, text=True, timeout=120)


def test_failpoint_names_cover_the_contract() -> None:
    assert set(failpoints.ALL) >= {"after_lock", "after_journal", "mid_backup", "before_replace", "after_replace",
                                   "after_receipt", "toggle_after_temp", "toggle_after_replace", "verify_started",
                                   "mid_restore", "after_commit"}


def test_unarmed_failpoint_is_a_noop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(failpoints.ENV, raising=False)
    failpoints.reset()
    for name in failpoints.ALL:
        failpoints.hit(name)
    monkeypatch.setenv(failpoints.ENV, "no_such_point")
    with pytest.raises(ValueError, match="unknown failpoint"):
        failpoints.reset()
    monkeypatch.delenv(failpoints.ENV)
    failpoints.reset()


SCENARIOS = [
    # (failpoint, operation, expected state after recovery)
    ("after_journal", "integrate", "old"),
    ("toggle_after_temp", "toggle", "old"),
    ("after_commit", "integrate", "new"),
    pytest.param("after_replace:3", "integrate", "old", marks=pytest.mark.slow),
    pytest.param("mid_restore:2", "restore", "old", marks=pytest.mark.slow),
    pytest.param("after_lock", "integrate", "old", marks=pytest.mark.slow),
    pytest.param("mid_backup:1", "integrate", "old", marks=pytest.mark.slow),
    pytest.param("before_replace:1", "integrate", "old", marks=pytest.mark.slow),
    pytest.param("after_receipt", "integrate", "old", marks=pytest.mark.slow),
    pytest.param("toggle_after_replace", "toggle", "old", marks=pytest.mark.slow),
    pytest.param("verify_started", "integrate", "old", marks=pytest.mark.slow),
    pytest.param("after_commit", "toggle", "new", marks=pytest.mark.slow),
]


@pytest.mark.reliability
@pytest.mark.parametrize(("point", "operation", "expect"), SCENARIOS)
def test_kill_at_failpoint_then_recover(point: str, operation: str, expect: str, target: Path, manifest: Path,
                                        snapshot: Path, cli_env: dict[str, str]) -> None:
    base = ["--target", str(target), "--manifest", str(manifest)]
    env = {**cli_env, "DC_VERIFY_COMMAND": "true"}
    if operation == "integrate":
        args = ["--integrate", "--bash-tool", "--enable-streaming-bash=true"]
    elif operation == "toggle":
        assert cli(env, snapshot, "--integrate", "--all", *base).returncode == 0
        args = ["--enable-streaming-file=true"]
    else:
        assert cli(env, snapshot, "--integrate", "--all", *base).returncode == 0
        args = ["--restore", "latest"]
    old = tree_digest(target)
    crashed = cli(env, snapshot, *args, *base, extra={"DC_FAILPOINT": point})
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr  # the failpoint fired
    mid = tree_digest(target)
    status = json.loads(cli(env, snapshot, "--status", "--json", *base).stdout)
    journal_left = (target / JOURNAL_NAME).exists()
    assert bool(status["interrupted"]) == journal_left
    if journal_left:
        assert "the next command" in status["interrupted"]["message"]
    assert tree_digest(target) == mid  # --status wrote nothing
    recover = cli(env, snapshot, "--prune-backups", "--keep", "100", *base)
    assert recover.returncode == 0, recover.stderr
    assert not (target / JOURNAL_NAME).exists()
    after = tree_digest(target)
    if expect == "old":
        assert after == old
    else:
        status = json.loads(cli(env, snapshot, "--status", "--json", *base).stdout)
        assert status["installed"] and status["drift"] == [] and status["interrupted"] is None
        assert status["last_backup"]["status"] == "COMMITTED"
    assert not any(".dc-tmp-" in p for p in after)
    backup_dir = Path(cli_env["DC_BACKUP_DIR"])
    strays = [p for p in backup_dir.rglob("*") if ".dc-tmp-" in p.name or p.name.startswith((".stage-", ".deleting-"))]
    assert strays == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_signal_during_verification_rolls_back(signum: int, target: Path, manifest: Path, snapshot: Path,
                                               cli_env: dict[str, str]) -> None:
    base = ["--target", str(target), "--manifest", str(manifest)]
    old = tree_digest(target)
    proc = subprocess.Popen([sys.executable, str(snapshot / "integrate_streaming.py"), "--integrate", "--all",
                             "--json", *base], env={**cli_env, "DC_VERIFY_COMMAND": "sleep 60"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal = target / JOURNAL_NAME
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the changes are applied and verification runs
        try:
            if json.loads(journal.read_text())["state"] == "APPLIED":
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the transaction never reached verification")
    time.sleep(0.2)
    os.kill(proc.pid, signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert json.loads(out)["error"]["code"] == "interrupted"
    assert tree_digest(target) == old
    listing = json.loads(cli(cli_env, snapshot, "--list-backups", "--json", *base).stdout)
    assert [b["status"] for b in listing] == ["ROLLED_BACK"]
