from __future__ import annotations

import dataclasses
import errno
import json
import os
import time
from pathlib import Path

import pytest

from dc_deploy import api, fsutil, journal, transaction
from dc_deploy.backups import BackupStore
from dc_deploy.context import Context
from dc_deploy.digest import tree_digest
from dc_deploy.errors import DeployError, IntegrityError, VerificationFailedError
from dc_deploy.fsutil import FileState


def _deployed(target: Path) -> bool:
    return (target / "dc_impl" / "receipt.json").exists()


def test_integrate_writes_receipt_toggles_and_loop_block(target: Path, ctx: Context, opts: api.Options) -> None:
    original_loop = (target / "loop.py").read_bytes()
    res = api.integrate(opts, ctx, ["bash-tool"], {"use_streaming_bash": True})
    receipt = json.loads((target / "dc_impl" / "receipt.json").read_text())
    assert receipt["format"] == 1 and receipt["version"] == "1.0.0"
    assert receipt["components"] == ["core", "loop-hook", "bash-tool"]
    assert receipt["backup_id"] == res.backup_id
    loop = (target / "loop.py").read_bytes()
    assert receipt["files"]["loop.py"]["sha256"] == fsutil.sha256_bytes(loop)
    assert loop.startswith(original_loop) and loop.endswith(b"# <<< claude-dc-streaming loop hook <<<\n")
    for rel, rec in receipt["files"].items():
        assert fsutil.sha256_file(target / rel) == rec["sha256"], rel
        assert (target / rel).stat().st_mode & 0o777 == rec["mode"]
    toggles = json.loads((target / "dc_impl" / "feature_toggles.json").read_text())
    assert toggles["use_streaming_bash"] is True and toggles["revision"] == 1
    assert not (target / "dc_impl" / "tools" / "dc_file.py").exists()
    assert not (target / journal.JOURNAL_NAME).exists()
    status = BackupStore(opts.backup_dir).get(target, res.backup_id).status
    assert status == "COMMITTED"


def test_dry_run_equals_real_change_set_and_writes_nothing(target: Path, ctx: Context, opts: api.Options) -> None:
    before = tree_digest(target, exclude=())
    dry = api.integrate(dataclasses.replace(opts, dry_run=True), ctx, None, {"use_streaming_file": True})
    assert tree_digest(target, exclude=()) == before  # not even the lock file
    assert not opts.backup_dir.exists()
    real = api.integrate(opts, ctx, None, {"use_streaming_file": True})
    assert dry.as_dict()["actions"] == real.as_dict()["actions"]
    assert {a["path"] for a in real.as_dict()["actions"]} >= {"loop.py", "dc_impl/receipt.json", "dc_impl/hook.py"}
    assert dry.as_dict()["toggles_after"] == real.as_dict()["toggles_after"]


def test_second_run_is_a_noop_without_backup(target: Path, ctx: Context, opts: api.Options) -> None:
    api.integrate(opts, ctx, None, {})
    digest = tree_digest(target)
    mtimes = {p: os.stat(target / p).st_mtime_ns for p in digest}
    n_backups = len(BackupStore(opts.backup_dir).all())
    again = api.integrate(opts, ctx, None, {})
    assert again.as_dict()["actions"] == [] and again.backup_id is None
    assert tree_digest(target) == digest
    assert {p: os.stat(target / p).st_mtime_ns for p in digest} == mtimes
    assert len(BackupStore(opts.backup_dir).all()) == n_backups


def test_restore_round_trip_is_byte_exact(target: Path, ctx: Context, opts: api.Options, manifest: Path,
                                          tmp_path: Path) -> None:
    # odd modes, a symlink and an empty dir in the original tree; a stale managed file to be removed later
    (target / "loop.py").chmod(0o600)
    (target / "tools" / "run.py").chmod(0o755) if (target / "tools" / "run.py").exists() else None
    (target / "emptydir").mkdir()
    (target / "dc_impl").mkdir()
    (target / "dc_impl" / "tools").mkdir()
    (target / "dc_impl" / "tools" / "dc_bash.py").symlink_to("../../loop.py")
    (target / "dc_impl" / "notes.txt").write_text("operator notes \n\t")
    old = tree_digest(target)
    res = api.integrate(opts, ctx, None, {"use_unified_streaming": True})
    assert (target / "dc_impl" / "tools" / "dc_bash.py").is_file()
    assert tree_digest(target) != old
    api.restore(opts, ctx, res.backup_id)
    assert tree_digest(target) == old


def test_restore_removes_added_and_recreates_removed_files(target: Path, ctx: Context, opts: api.Options,
                                                           manifest: Path, tmp_path: Path) -> None:
    api.integrate(opts, ctx, ["file-tool"], {})
    v1 = tree_digest(target)
    # release 1.1.0 drops one file of file-tool: the deploy removes it, the restore brings it back
    doc = json.loads(manifest.read_text())
    comp = next(c for c in doc["components"] if c["id"] == "file-tool")
    dropped = comp["files"].pop()["destination"]
    doc["version"] = "1.1.0"
    m2 = tmp_path / "streaming-1.1.0.json"
    m2.write_text(json.dumps(doc))
    ctx.clock.tick()  # type: ignore[attr-defined]
    res = api.integrate(dataclasses.replace(opts, manifest=m2), ctx, [], {})
    assert {"path": dropped, "action": "delete"}.items() <= next(
        a for a in res.as_dict()["actions"] if a["path"] == dropped).items()
    assert not (target / dropped).exists()
    assert json.loads((target / "dc_impl" / "receipt.json").read_text())["version"] == "1.1.0"
    api.restore(opts, ctx, "latest")
    assert tree_digest(target) == v1


def test_failure_mid_apply_rolls_everything_back(target: Path, ctx: Context, opts: api.Options,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    old = tree_digest(target)
    real_replace = os.replace
    calls = {"n": 0}

    def flaky_replace(src: str, dst: str) -> None:
        if Path(dst).is_relative_to(target):  # backups (however many files they hold) are written elsewhere
            calls["n"] += 1
            if calls["n"] == 4:  # the 4th replace in the target fails (after the journal + 2 deployed files)
                raise OSError(errno.EIO, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(fsutil.os, "replace", flaky_replace)
    with pytest.raises(DeployError, match="rolled back") as info:
        api.integrate(opts, ctx, None, {})
    assert calls["n"] >= 4 and "Input/output error" in str(info.value)
    monkeypatch.setattr(fsutil.os, "replace", real_replace)
    assert tree_digest(target) == old
    (backup,) = BackupStore(opts.backup_dir).all()
    assert backup.status == "ROLLED_BACK"
    assert not (target / journal.JOURNAL_NAME).exists()


def test_verification_failure_restores_and_marks_failed(target: Path, ctx: Context, opts: api.Options) -> None:
    old = tree_digest(target)
    ctx.environ = {**ctx.environ, "DC_VERIFY_COMMAND": "false"}  # type: ignore[misc]
    with pytest.raises(VerificationFailedError) as info:
        api.integrate(dataclasses.replace(opts, verify=True), ctx, None, {})
    assert info.value.exit_code == 3
    assert info.value.data["verification"]["returncode"] == 1
    assert tree_digest(target) == old
    (backup,) = BackupStore(opts.backup_dir).all()
    assert backup.status == "FAILED"


def test_hanging_verifier_is_killed_with_its_group(target: Path, ctx: Context, opts: api.Options,
                                                   tmp_path: Path) -> None:
    old = tree_digest(target)
    marker = tmp_path / "grandchild-survived"
    # a background grandchild that would leave a marker after 1.5 s, and a foreground that hangs
    cmd = f"sh -c '(sleep 1.5; touch {marker}) & sleep 100'"
    ctx.environ = {**ctx.environ, "DC_VERIFY_COMMAND": cmd}  # type: ignore[misc]
    t0 = time.monotonic()
    with pytest.raises(VerificationFailedError, match="timed out") as info:
        api.integrate(dataclasses.replace(opts, verify=True, verify_timeout=0.5), ctx, None, {})
    assert time.monotonic() - t0 < 20
    assert info.value.data["verification"]["timed_out"] is True
    assert tree_digest(target) == old
    time.sleep(max(0.0, t0 + 2.5 - time.monotonic()))
    assert not marker.exists()  # the whole process group was killed


def test_corrupted_backup_is_refused_untouched(target: Path, ctx: Context, opts: api.Options) -> None:
    api.integrate(opts, ctx, ["bash-tool"], {})
    ctx.clock.tick()  # type: ignore[attr-defined]
    res = api.integrate(opts, ctx, ["file-tool"], {})
    store = BackupStore(opts.backup_dir)
    backup = store.get(target, res.backup_id)
    stored = backup.stored("dc_impl/receipt.json")
    data = bytearray(stored.read_bytes())
    data[10] ^= 0x01  # one flipped bit
    stored.write_bytes(bytes(data))
    current = tree_digest(target)
    with pytest.raises(IntegrityError, match="dc_impl/receipt.json") as info:
        api.restore(opts, ctx, backup.id)
    assert info.value.exit_code == 6
    assert tree_digest(target) == current
    assert len(store.all()) == 2  # no pre-restore backup either


def test_recovery_rolls_back_a_hot_journal(target: Path, ctx: Context, opts: api.Options) -> None:
    """Simulate a crash after the journal and two replaced files, then let the next command recover."""
    old = tree_digest(target)
    store = BackupStore(opts.backup_dir)
    changes = [transaction.Change("dc_impl/a.py", FileState("file", sha256=fsutil.sha256_bytes(b"a"), mode=0o644),
                                  content=b"a"),
               transaction.Change("loop.py", FileState("file", sha256=fsutil.sha256_bytes(b"b"), mode=0o644),
                                  content=b"b")]
    backup = store.create(target, {c.path: fsutil.file_state(target / c.path) for c in changes},
                          stamp="20261128_120000", meta={"operation": "integrate", "absent_dirs": ["dc_impl"]})
    jr = journal.Journal(backup.id, "integrate", "APPLYING", str(backup.root), backup.id,
                         [{"path": c.path, "before": backup.files[c.path].as_dict(), "after": c.after.as_dict()}
                          for c in changes], ["dc_impl"])
    journal.write(target, jr)
    for c in changes:
        transaction._apply(target, c)
    (target / "dc_impl" / f".a.py{fsutil.TEMP_MARK}99-dead").write_bytes(b"torn")
    assert tree_digest(target) != old
    status = api.status(opts, ctx).as_dict()
    assert "will roll it back" in status["interrupted"]["message"]
    res = api.integrate(opts, ctx, ["core"], {})
    assert res.as_dict()["recovered"]["action"] == "rolled back"
    assert store.get(target, backup.id).status == "ROLLED_BACK"
    api.restore(opts, ctx, res.backup_id)
    assert tree_digest(target) == old


def test_backup_ids_unique_within_one_second(target: Path, ctx: Context, opts: api.Options) -> None:
    ids = []
    for i in range(6):
        flips = {"use_streaming_bash": bool(i % 2)}
        if i == 0:
            ids.append(api.integrate(opts, ctx, ["core"], flips).backup_id)
        else:
            ids.append(api.set_toggles(opts, ctx, flips).backup_id)
    assert len(set(ids)) == 6 and ids == sorted(ids)
    assert ids[0] == "backup_20261128_120000" and ids[1] == "backup_20261128_120000_001"


def test_disk_full_while_backing_up_changes_nothing(target: Path, ctx: Context, opts: api.Options,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from dc_deploy import backups

    old = tree_digest(target)
    calls = []

    def full_disk(*args: object, **kwargs: object) -> str:
        calls.append(args)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(backups, "atomic_copy", full_disk)
    with pytest.raises(DeployError, match="backup failed: .*No space left on device.*nothing in the target") as info:
        api.integrate(opts, ctx, None, {})
    assert calls and info.value.exit_code == 1
    assert tree_digest(target) == old
    (backup,) = BackupStore(opts.backup_dir).all()
    assert backup.status == "ROLLED_BACK"


def test_signal_whose_exception_was_swallowed_still_rolls_back(target: Path, ctx: Context, opts: api.Options,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGTERM raised inside code that swallows exceptions (a finalizer, a broad except) must not commit."""
    import signal

    from dc_deploy.errors import Interrupted
    from dc_deploy.verifyrun import VerifyResult

    def swallowing_verifier(_target: Path, _ctx: Context, _timeout: float) -> VerifyResult:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)  # the handler runs here and raises Interrupted
        except Exception:  # noqa: BLE001 - the point of the test
            pass
        return VerifyResult(True, 0, False, 0.0, ["swallowing"])

    monkeypatch.setattr(transaction, "run_verification", swallowing_verifier)
    before = tree_digest(target)
    with pytest.raises(Interrupted):
        api.integrate(dataclasses.replace(opts, verify=True), ctx, ["bash-tool"], {})
    assert tree_digest(target) == before
    assert [b.status for b in BackupStore(opts.backup_dir).all()] == ["ROLLED_BACK"]
