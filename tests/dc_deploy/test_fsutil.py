from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from dc_deploy import fsutil
from dc_deploy.digest import diff, tree_digest


def test_atomic_write_keeps_mode_and_leaves_no_temp(tmp_path: Path) -> None:
    p = tmp_path / "f.json"
    p.write_text("old")
    p.chmod(0o640)
    fsutil.atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"new"
    assert p.stat().st_mode & 0o777 == 0o640
    assert sorted(os.listdir(tmp_path)) == ["f.json"]


def test_atomic_write_failure_keeps_old_file_and_removes_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"old")
    calls = []

    def failing_replace(src: str, dst: str) -> None:
        calls.append((src, dst))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fsutil.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        fsutil.atomic_write_bytes(p, b"new")
    assert len(calls) == 1  # the fault fired
    assert p.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]


def test_atomic_copy_refuses_hash_mismatch_before_replacing(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(b"payload")
    dst.write_bytes(b"keep me")
    with pytest.raises(fsutil.HashMismatch):
        fsutil.atomic_copy(src, dst, mode=0o644, expect_sha256="0" * 64)
    assert dst.read_bytes() == b"keep me"
    assert sorted(os.listdir(tmp_path)) == ["dst", "src"]
    digest = fsutil.atomic_copy(src, dst, mode=0o755, expect_sha256=fsutil.sha256_bytes(b"payload"))
    assert digest == fsutil.sha256_bytes(b"payload")
    assert dst.read_bytes() == b"payload" and dst.stat().st_mode & 0o777 == 0o755


def test_file_state_does_not_follow_symlinks(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("x")
    (tmp_path / "link").symlink_to("real")
    assert fsutil.file_state(tmp_path / "link") == fsutil.FileState("symlink", link="real")
    assert fsutil.file_state(tmp_path / "missing") == fsutil.ABSENT
    fsutil.atomic_symlink("elsewhere", tmp_path / "link")
    assert os.readlink(tmp_path / "link") == "elsewhere"


def test_make_dirs_reports_created_and_sweep_temps(tmp_path: Path) -> None:
    created = fsutil.make_dirs(tmp_path / "a" / "b", tmp_path)
    assert created == [tmp_path / "a", tmp_path / "a" / "b"]
    stray = tmp_path / "a" / f".x.py{fsutil.TEMP_MARK}1-abcd"
    stray.write_text("partial")
    assert fsutil.sweep_temps(tmp_path / "a") == [stray]
    assert not stray.exists()


def test_tree_digest_sees_modes_symlinks_and_empty_dirs(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("a")
    before = tree_digest(tmp_path)
    (tmp_path / "f").chmod(0o600)
    (tmp_path / "d").mkdir()
    (tmp_path / "l").symlink_to("f")
    (tmp_path / "__pycache__").mkdir()
    d = diff(before, tree_digest(tmp_path))
    assert d == {"added": ["d", "l"], "removed": [], "changed": ["f"]}
