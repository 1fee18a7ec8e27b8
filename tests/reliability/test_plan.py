"""E1-E3: the dry run is exactly the real change set and writes nothing; re-runs are no-ops; drift is refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import relkit

from dc_deploy.digest import tree_digest

pytestmark = pytest.mark.reliability


def _changes(doc: dict[str, object]) -> list[tuple[object, ...]]:
    actions = doc["actions"]
    assert isinstance(actions, list)
    # the receipt's hash is generated at apply time (it names the backup): compare it by path and kind only
    return [(a["path"], a["action"], a["old_sha256"], a["old_mode"], a["new_mode"],
             None if a["path"] == "dc_impl/receipt.json" else a["new_sha256"]) for a in actions]


FAST_PLANS = {("many", "integrate"), ("churn", "restore"), ("one", "toggle")}


@pytest.mark.parametrize(("key", "op"), [
    pytest.param(k, op, id=f"{k}-{op}", marks=[] if (k, op) in FAST_PLANS else [pytest.mark.slow])
    for k in relkit.MANIFESTS for op in relkit.OPERATIONS])
def test_dry_run_equals_reality_and_writes_nothing(key: str, op: str, tmp_path: Path,
                                                   project: tuple[Path, dict[str, Path]]) -> None:
    """E1: ``--dry-run --json`` lists exactly what the real run then does; it writes nothing, not even the lock."""
    root, manifests = project
    prep = relkit.prepare(root, manifests, key, op, tmp_path / "case")
    exact = tree_digest(prep.target, exclude=("__pycache__",))  # the lock file counts here
    backups = sorted(p.name for p in prep.backup_dir.iterdir()) if prep.backup_dir.exists() else []
    dry = relkit.run_cli(root, [*prep.args, "--dry-run", "--json"], env=prep.env)
    assert dry.returncode == 0, dry.stderr
    assert tree_digest(prep.target, exclude=("__pycache__",)) == exact
    assert (sorted(p.name for p in prep.backup_dir.iterdir()) if prep.backup_dir.exists() else []) == backups
    real = relkit.run_cli(root, [*prep.args, "--json"], env=prep.env)
    assert real.returncode == 0, real.stderr
    planned, done = json.loads(dry.stdout), json.loads(real.stdout)
    assert planned["dry_run"] is True and done["dry_run"] is False
    assert _changes(planned) == _changes(done) and planned["actions"]
    assert planned["toggles_after"] == done["toggles_after"]


@pytest.mark.parametrize("key", [pytest.param("one", marks=pytest.mark.slow), "many", "churn"])
def test_second_run_is_a_noop(key: str, tmp_path: Path, project: tuple[Path, dict[str, Path]]) -> None:
    """E2: the same command again: 0 actions, no backup, digest and every mtime unchanged."""
    root, manifests = project
    prep = relkit.prepare(root, manifests, key, "integrate", tmp_path / "case")
    first = relkit.run_cli(root, prep.args, env=prep.env)
    assert first.returncode == 0, first.stderr
    exact = tree_digest(prep.target)
    mtimes = {p: os.lstat(prep.target / p).st_mtime_ns for p in exact}
    backups = sorted(p.name for p in prep.backup_dir.iterdir())
    again = relkit.run_cli(root, [*prep.args, "--json"], env=prep.env)
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["actions"] == [] and doc["backup_id"] is None
    assert tree_digest(prep.target) == exact
    assert {p: os.lstat(prep.target / p).st_mtime_ns for p in exact} == mtimes
    assert sorted(p.name for p in prep.backup_dir.iterdir()) == backups


@pytest.mark.parametrize("edit", ["content", pytest.param("deleted", marks=pytest.mark.slow),
                                  pytest.param("replaced-by-symlink", marks=pytest.mark.slow)])
def test_drift_is_refused_then_kept_or_overwritten_on_request(edit: str, tmp_path: Path,
                                                              project: tuple[Path, dict[str, Path]]) -> None:
    """E3: a managed file changed by hand: exit 5 naming it and nothing written; keep/overwrite do what they say."""
    root, manifests = project
    prep = relkit.prepare(root, manifests, "churn", "integrate", tmp_path / "case")  # churn-v1 is installed
    victim = prep.target / "dc_impl" / "keep_00.py"
    if edit == "content":
        victim.write_bytes(victim.read_bytes() + b"\n# local fix\n")
    elif edit == "deleted":
        victim.unlink()
    else:
        victim.unlink()
        victim.symlink_to("keep_01.py")
    edited = tree_digest(prep.target)
    proc = relkit.run_cli(root, [*prep.args, "--json"], env=prep.env)
    assert proc.returncode == 5, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["error"]["code"] == "drift" and [d["path"] for d in doc["drift"]] == ["dc_impl/keep_00.py"]
    assert tree_digest(prep.target) == edited
    kept = relkit.run_cli(root, [*prep.args, "--on-drift", "keep"], env=prep.env)
    assert kept.returncode == 0, kept.stderr
    assert tree_digest(prep.target).get("dc_impl/keep_00.py") == edited.get("dc_impl/keep_00.py")
    over = relkit.run_cli(root, [*prep.args, "--on-drift", "overwrite"], env=prep.env)
    assert over.returncode == 0, over.stderr
    assert victim.is_file() and not victim.is_symlink()
    assert relkit.run_cli(root, [*prep.args, "--json"], env=prep.env).returncode == 0
