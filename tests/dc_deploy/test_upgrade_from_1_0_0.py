"""A tree deployed with release 1.0.0 (flat ``dc_impl/tools/_bash_*.py`` ...) upgrades to the folder
layout with an ordinary ``--integrate``: files that left the manifest are removed, the new ones are
in, the toggles are kept, verification passes; and the upgrade's backup restores 1.0.0 byte for byte.

1.0.0 comes from ``tests/fixtures/release-1.0.0`` (its files and manifest, so no git history is
needed); the installer reads it as its project root through ``DC_PROJECT_ROOT``. The real CLI runs
in subprocesses; the upgrade is verified by the real verification suite.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dc_deploy.build import build_manifest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "computer_use_demo"
RELEASE_1_0_0 = REPO / "tests" / "fixtures" / "release-1.0.0"
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")
INSTALLER_FILES = (".dc-streaming.lock",)  # the lock file stays by design (its inode is the lock)


def tree(root: Path) -> dict[str, bytes]:
    """Every file (and empty directory, as None) under ``root``, but the installer's lock file."""
    out: dict[str, bytes | None] = {}
    for p in sorted(root.rglob("*")):
        if "__pycache__" in p.parts or p.name in INSTALLER_FILES:
            continue
        rel = p.relative_to(root).as_posix()
        if p.is_file():
            out[rel] = p.read_bytes()
        elif p.is_dir() and not any(p.iterdir()):
            out[rel] = None
    return out  # type: ignore[return-value]  # None marks an empty directory


@pytest.fixture(scope="module")
def current(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(project root with today's dc_impl, its manifest as version 1.1.0)."""
    root = tmp_path_factory.mktemp("current")
    shutil.copytree(REPO / "dc_impl", root / "dc_impl", ignore=IGNORE)
    out = tmp_path_factory.mktemp("manifests") / "streaming-1.1.0.json"
    build_manifest(root, "1.1.0", out, created_at="2026-12-01T00:00:00Z", project_commit=None)
    return root, out


def cli(*args: str, project: Path, backups: Path, verify_command: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DC_")}
    env.update({"DC_PROJECT_ROOT": str(project), "DC_BACKUP_DIR": str(backups), "PYTHONDONTWRITEBYTECODE": "1"})
    if verify_command:
        env["DC_VERIFY_COMMAND"] = verify_command
    proc = subprocess.run([sys.executable, str(REPO / "integrate_streaming.py"), *args, "--json", "--no-progress"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_a_1_0_0_deployment_upgrades_and_its_backup_restores_1_0_0_byte_for_byte(
        tmp_path: Path, current: tuple[Path, Path]) -> None:
    old_root = tmp_path / "release-1.0.0"
    shutil.copytree(RELEASE_1_0_0, old_root)
    old_manifest = old_root / "manifests" / "streaming-1.0.0.json"
    new_root, new_manifest = current
    target = tmp_path / "prod" / "computer_use_demo"
    shutil.copytree(EXAMPLE, target, ignore=IGNORE)
    backups = tmp_path / "backups"
    pristine = tree(target)

    # 1. deploy 1.0.0 from its own sources (verified by importing the deployed tree)
    first = cli("--integrate", "--all", "--target", str(target), "--manifest", str(old_manifest),
                "--enable-unified-streaming=true", "--enable-streaming-bash=true", project=old_root, backups=backups)
    assert first["verification"]["passed"]
    receipt = json.loads((target / "dc_impl" / "receipt.json").read_text())
    assert receipt["version"] == "1.0.0"
    old_files = set(receipt["files"])
    assert "dc_impl/tools/_bash_procs.py" in old_files and "dc_impl/tools/_file_view.py" in old_files
    deployed_1_0_0 = tree(target)

    # 2. an ordinary integrate with the new release: what is installed, in the new layout
    verify = shlex.join([sys.executable, str(REPO / "verify_streaming.py"), "--target", "{target}", "--json",
                         "--python", "{python}"])
    up = cli("--integrate", "--target", str(target), "--manifest", str(new_manifest), project=new_root,
             backups=backups, verify_command=verify)
    assert up["verification"]["passed"], up["verification"]
    receipt = json.loads((target / "dc_impl" / "receipt.json").read_text())
    assert receipt["version"] == "1.1.0"
    assert set(receipt["components"]) == set(first["components"])  # same components, new files
    new_files = set(receipt["files"])
    gone = old_files - new_files
    assert {"dc_impl/tools/_bash_procs.py", "dc_impl/tools/_bash_shell.py", "dc_impl/tools/_file_io.py"} <= gone
    for rel in gone:
        assert not (target / rel).exists(), rel  # files that left the manifest are removed
    assert {"dc_impl/tools/procs.py", "dc_impl/tools/bash/shell.py", "dc_impl/tools/edit/io.py",
            "dc_impl/contract.py", "dc_impl/substitution.py", "dc_impl/STREAMING_README.md"} <= new_files
    on_disk = {p.relative_to(target).as_posix() for p in (target / "dc_impl").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert on_disk == {r for r in new_files if r.startswith("dc_impl/")} | {"dc_impl/feature_toggles.json",
                                                                          "dc_impl/receipt.json"}
    toggles = json.loads((target / "dc_impl" / "feature_toggles.json").read_text())
    assert toggles["use_unified_streaming"] is True and toggles["use_streaming_bash"] is True  # kept
    upgraded = tree(target)

    # 3. the upgrade's backup puts 1.0.0 back, byte for byte (new folders gone, old files back)
    cli("--restore", up["backup_id"], "--target", str(target), project=new_root, backups=backups)
    assert tree(target) == deployed_1_0_0
    assert not (target / "dc_impl" / "tools" / "bash").exists()

    # 4. the upgrade again (same files as the first time), then the very first backup returns the
    #    pristine upstream tree through the whole chain
    cli("--integrate", "--no-verify", "--target", str(target), "--manifest", str(new_manifest), project=new_root,
        backups=backups)
    redone = tree(target)
    assert {k: v for k, v in redone.items() if k != "dc_impl/receipt.json"} == {
        k: v for k, v in upgraded.items() if k != "dc_impl/receipt.json"}
    cli("--restore", first["backup_id"], "--target", str(target), project=new_root, backups=backups)
    assert tree(target) == pristine
