"""A restore never skips a backup it cannot read (issue 11, item 3): the real CLI on a real tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dc_deploy.backups import IDENTITY
from dc_deploy.digest import tree_digest

PHASES = (["--bash-tool"], ["--file-tool"], ["--unified-streaming", "--update-loop"])
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "computer_use_demo"


class Cli:
    def __init__(self, snapshot: Path, manifest: Path, target: Path, backups: Path, env: dict[str, str]) -> None:
        self.target, self.backups = target, backups
        self.base = [sys.executable, str(snapshot / "integrate_streaming.py"), "--target", str(target), "--backup-dir",
                     str(backups), "--manifest", str(manifest), "--no-verify", "--no-progress"]
        self.env = {**env, "COLUMNS": "250"}

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.base, *args], env=self.env, capture_output=True, text=True, timeout=120)

    def json(self, *args: str) -> object:
        proc = self(*args, "--json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)


def _env(snapshot: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DC_")}
    return {**env, "DC_PROJECT_ROOT": str(snapshot), "PYTHONDONTWRITEBYTECODE": "1"}


@pytest.fixture(scope="module")
def golden(snapshot: Path, manifest: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[Path, Path, list[str], list[dict]]:
    """Three phased integrates (real CLI), made once; each test gets a fresh copy at the same paths
    (backups record their target's absolute path)."""
    work, gold = tmp_path_factory.mktemp("unreadable-work"), tmp_path_factory.mktemp("unreadable-gold") / "w"
    shutil.copytree(EXAMPLE, work / "computer_use_demo", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tests"))
    cli = Cli(snapshot, manifest, work / "computer_use_demo", work / "backups", _env(snapshot))
    ids, digests = [], [tree_digest(cli.target)]
    for flags in PHASES:
        doc = cli.json("--integrate", *flags)
        ids.append(doc["backup_id"])  # type: ignore[index]
        digests.append(tree_digest(cli.target))
    shutil.copytree(work, gold, symlinks=True)
    return work, gold, ids, digests


@pytest.fixture
def phased(golden, snapshot: Path, manifest: Path) -> tuple[Cli, list[str], list[dict]]:
    """The three phases' tree and backups, their backup ids, the digest before each and after the last."""
    work, gold, ids, digests = golden
    shutil.rmtree(work)
    shutil.copytree(gold, work, symlinks=True)
    cli = Cli(snapshot, manifest, work / "computer_use_demo", work / "backups", _env(snapshot))
    assert tree_digest(cli.target) == digests[3]
    return cli, ids, digests


def test_restore_refuses_when_a_later_backup_of_the_chain_is_unreadable(phased, tmp_path: Path) -> None:
    """The issue's scenario: exit 6 naming the second backup, the tree untouched, no backup added."""
    cli, ids, digests = phased
    (cli.backups / ids[1] / "backup.json").write_text("{\n")
    before = tree_digest(cli.target, exclude=())
    n_dirs = len(list((cli.backups).iterdir()))
    proc = cli("--restore", ids[0])
    assert proc.returncode == 6, proc.stderr
    assert ids[1] in proc.stderr and "unreadable" in proc.stderr and "Traceback" not in proc.stderr
    assert tree_digest(cli.target, exclude=()) == before == {**before}
    assert len(list((cli.backups).iterdir())) == n_dirs
    doc = json.loads(cli("--restore", ids[0], "--json").stdout)
    assert doc["ok"] is False and doc["error"]["exit_code"] == 6 and doc["error"]["data"]["backup"] == ids[1]
    # `latest` (the third phase) does not need the second one: its identity.json proves it is older
    assert cli("--restore", "latest").returncode == 0
    assert tree_digest(cli.target) == digests[2]


def test_restore_of_the_unreadable_backup_itself_says_unreadable(phased, tmp_path: Path) -> None:
    cli, ids, _ = phased
    meta = cli.backups / ids[1] / "backup.json"
    meta.write_bytes(meta.read_bytes()[:100])  # truncated
    before = tree_digest(cli.target, exclude=())
    proc = cli("--restore", ids[1])
    assert proc.returncode == 6, proc.stderr
    assert f"backup {ids[1]} is unreadable" in proc.stderr and "no backup" not in proc.stderr
    assert tree_digest(cli.target, exclude=()) == before


def test_listing_shows_unreadable_backups(phased, tmp_path: Path) -> None:
    cli, ids, _ = phased
    (cli.backups / ids[1] / "backup.json").write_text("{\n")
    listing = cli.json("--list-backups")
    assert [b["id"] for b in listing] == list(reversed(ids))  # type: ignore[union-attr]
    bad = listing[1]  # type: ignore[index]
    assert bad["status"] == "UNREADABLE" and "not valid JSON" in bad["error"] and bad["sequence"] == 2
    text = cli("--list-backups")
    assert text.returncode == 0 and "UNREADABLE" in text.stdout and ids[1] in text.stdout
    assert "not valid JSON" in text.stdout


def test_unreadable_backup_of_unknown_target_and_place_blocks_every_restore(phased, tmp_path: Path) -> None:
    """Without identity.json nothing proves it is not a later transaction: even `latest` is refused."""
    cli, ids, digests = phased
    (cli.backups / ids[1] / "backup.json").write_text("")
    (cli.backups / ids[1] / IDENTITY).unlink()
    for ident in ("latest", ids[2], ids[0]):
        proc = cli("--restore", ident)
        assert proc.returncode == 6 and ids[1] in proc.stderr, proc.stderr
        assert tree_digest(cli.target) == digests[3]
    listing = cli.json("--list-backups")
    assert listing[0]["id"] == ids[1] and listing[0]["status"] == "UNREADABLE"  # type: ignore[index]
    # the documented way out, once the operator knows it is not part of the chain: move it aside
    shutil.move(cli.backups / ids[1], tmp_path / "aside")
    assert cli("--restore", ids[2]).returncode == 0
    assert tree_digest(cli.target) == digests[2]


def test_unreadable_backup_of_another_target_neither_blocks_nor_is_listed(phased, tmp_path: Path,
                                                                          snapshot: Path, manifest: Path,
                                                                          cli_env: dict[str, str]) -> None:
    cli, ids, digests = phased
    other_target = tmp_path / "other" / "computer_use_demo"
    shutil.copytree(cli.target, other_target)  # any tree: only the record matters
    other = Cli(snapshot, manifest, other_target, cli.backups, cli_env)
    assert other("--restore", ids[2]).returncode == 2  # belongs to the first target
    alien = json.loads(other("--enable-streaming-bash=true", "--json").stdout)["backup_id"]
    (cli.backups / alien / "backup.json").write_text("{")
    assert alien not in [b["id"] for b in cli.json("--list-backups")]  # type: ignore[union-attr]
    assert cli("--restore", ids[0]).returncode == 0
    assert tree_digest(cli.target) == digests[0]
    assert [b["status"] for b in other.json("--list-backups")][0] == "UNREADABLE"  # type: ignore[index]


def test_every_backup_of_the_chain_is_hash_checked_first(phased, tmp_path: Path) -> None:
    cli, ids, digests = phased
    stored = cli.backups / ids[2] / "files" / "dc_impl" / "receipt.json"
    stored.chmod(0o600)
    stored.write_bytes(stored.read_bytes().replace(b"bash", b"bosh", 1))
    proc = cli("--restore", ids[0])
    assert proc.returncode == 6 and ids[2] in proc.stderr and "receipt.json" in proc.stderr, proc.stderr
    assert tree_digest(cli.target) == digests[3]


def test_prune_leaves_unreadable_backups_alone(phased, tmp_path: Path) -> None:
    cli, ids, _ = phased
    (cli.backups / ids[0] / "backup.json").write_text("[]")
    doc = cli.json("--prune-backups", "--keep", "0")
    assert doc["unreadable"] == [ids[0]] and ids[0] not in doc["deleted"]  # type: ignore[index]
    assert (cli.backups / ids[0]).is_dir()


def test_backup_json_disagreeing_with_identity_is_unreadable(phased, tmp_path: Path) -> None:
    """An edited sequence (e.g. to move a backup in the order) is caught: identity.json is written once."""
    cli, ids, digests = phased
    meta_path = cli.backups / ids[2] / "backup.json"
    meta = json.loads(meta_path.read_text())
    meta["sequence"] = 1  # pretend to be the oldest
    meta_path.write_text(json.dumps(meta))
    listing = cli.json("--list-backups")
    bad = next(b for b in listing if b["id"] == ids[2])  # type: ignore[union-attr]
    assert bad["status"] == "UNREADABLE" and "disagrees" in bad["error"] and bad["sequence"] == 3
    proc = cli("--restore", ids[1])
    assert proc.returncode == 6 and ids[2] in proc.stderr, proc.stderr
    assert tree_digest(cli.target) == digests[3]
