"""C4: the target lock -- takeover after a killed holder, timeout accuracy, inode stability, symlink refusal."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import relkit

from dc_deploy import api
from dc_deploy.errors import LockTimeoutError
from dc_deploy.lock import LOCK_NAME, target_lock

pytestmark = pytest.mark.reliability


def test_killed_holder_releases_the_lock_at_once(tmp_path: Path, project: tuple[Path, dict[str, Path]]) -> None:
    root, manifests = project
    prep = relkit.prepare(root, manifests, "many", "integrate", tmp_path / "case")
    proc, verifier = relkit.start_hanging(root, prep, tmp_path / "verify.pid")
    try:
        assert not relkit.lock_acquirable(prep.target, 0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        t0 = time.monotonic()
        res = relkit.recover(root, prep.target, prep.backup_dir)
        took = time.monotonic() - t0
    finally:
        if relkit.alive(verifier):  # a SIGKILLed installer cannot reap its verifier: documented limitation
            os.kill(verifier, signal.SIGKILL)
    assert took < 1.0, took
    assert res.as_dict()["recovered"]["action"] == "rolled back"
    assert relkit.ndigest(prep.target) == prep.old
    assert relkit.leftovers(prep.target, prep.backup_dir) == []


def test_lock_timeout_is_accurate_and_names_the_holder(tmp_path: Path, project: tuple[Path, dict[str, Path]]) -> None:
    root, manifests = project
    prep = relkit.prepare(root, manifests, "one", "toggle", tmp_path / "case")
    holder, verifier = relkit.start_hanging(root, prep, tmp_path / "verify.pid")
    try:
        opts = api.Options(target=prep.target, backup_dir=prep.backup_dir, lock_timeout=2.0, verify=False)
        t0 = time.monotonic()
        with pytest.raises(LockTimeoutError) as info:
            api.set_toggles(opts, relkit.quiet_ctx(root), {"use_streaming_file": True})
        took = time.monotonic() - t0
        assert 1.95 <= took <= 2.6, took  # 2.0 +- 0.3 s in the reference; more slack for a loaded CI box
        assert info.value.data["holder"]["pid"] == holder.pid
        args = list(prep.args)
        args[args.index("--lock-timeout") + 1] = "1"
        t0 = time.monotonic()
        cli = relkit.run_cli(root, args, env=prep.env)
        assert time.monotonic() - t0 < 8
        assert cli.returncode == 4, cli.stderr
        assert f"pid {holder.pid}" in cli.stderr and "on host" in cli.stderr
        assert "--enable-streaming-bash=false" in cli.stderr  # the holder's command line
        assert "Traceback" not in cli.stderr
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.communicate(timeout=30)
    assert relkit.wait_dead(verifier, 2.0)
    assert relkit.ndigest(prep.target) == prep.old


def test_lock_file_inode_is_stable_across_cycles(tmp_path: Path, project: tuple[Path, dict[str, Path]]) -> None:
    root, manifests = project
    prep = relkit.prepare(root, manifests, "one", "toggle", tmp_path / "case")
    ctx = relkit.quiet_ctx(root)
    inode = os.stat(prep.target / LOCK_NAME).st_ino
    for _ in range(300):
        with target_lock(prep.target, ctx, 5):
            pass
    for value in (True, False, True):
        opts = api.Options(target=prep.target, backup_dir=prep.backup_dir, verify=False)
        api.set_toggles(opts, ctx, {"use_streaming_thinking": value})
    assert os.stat(prep.target / LOCK_NAME).st_ino == inode


@pytest.mark.parametrize("kind", ["dangling", "to-file", "to-dir"])
def test_symlink_planted_at_lock_path_is_refused(kind: str, tmp_path: Path,
                                                 project: tuple[Path, dict[str, Path]]) -> None:
    root, manifests = project
    prep = relkit.prepare(root, manifests, "one", "toggle", tmp_path / "case")
    lock = prep.target / LOCK_NAME
    lock.unlink()
    victim = tmp_path / ("victim.txt" if kind != "to-dir" else "victim-dir")
    if kind == "to-file":
        victim.write_text("precious\n")
    elif kind == "to-dir":
        victim.mkdir()
    lock.symlink_to(victim)
    before = relkit.ndigest(prep.target)
    proc = relkit.run_cli(root, prep.args, env=prep.env)
    assert proc.returncode == 1, proc.stderr
    assert "symlink" in proc.stderr and "Traceback" not in proc.stderr
    assert relkit.ndigest(prep.target) == before
    assert lock.is_symlink()
    if kind == "dangling":
        assert not victim.exists()
    elif kind == "to-file":
        assert victim.read_text() == "precious\n"
    else:
        assert list(victim.iterdir()) == []
