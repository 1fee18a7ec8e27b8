"""D1-D3: byte-exact restore round trips, a flipped bit in a backup is caught, backup ids unique under bursts."""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import relkit

from dc_deploy import api
from dc_deploy.backups import BackupStore
from dc_deploy.digest import tree_digest

pytestmark = pytest.mark.reliability


def _odd_tree(target: Path) -> None:
    """Modes 0600/0755, a symlink and an empty dir at managed paths, trailing blanks, no final newline."""
    (target / "dc_impl" / "emptydir").mkdir(parents=True)
    keep0 = target / "dc_impl" / "keep_00.py"
    keep0.write_bytes(b"operator copy \t\r\n\n  ")
    keep0.chmod(0o600)
    (target / "dc_impl" / "keep_01.py").symlink_to("../loop.py")
    script = target / "dc_impl" / "keep_02.py"
    script.write_bytes(b"#!/bin/sh\necho hi")
    script.chmod(0o755)
    (target / "loop.py").chmod(0o640)


def test_round_trip_is_byte_exact(tmp_path: Path, project: tuple[Path, dict[str, Path]]) -> None:
    """D1: deploy v1, deploy v2 (changes, adds, removes), restore v2's backup, restore v1's: each step exact."""
    root, manifests = project
    target = relkit.make_target(tmp_path)
    _odd_tree(target)
    pristine = tree_digest(target)
    opts = api.Options(target=target, backup_dir=tmp_path / "backups", manifest=manifests["churn-v1"], verify=False,
                       on_drift="overwrite")
    ctx = relkit.quiet_ctx(root)
    first = api.integrate(opts, ctx, None, {"use_streaming_bash": True}).backup_id
    assert (target / "dc_impl" / "keep_01.py").is_file() and not (target / "dc_impl" / "keep_01.py").is_symlink()
    v1 = tree_digest(target)
    second = api.integrate(api.Options(**{**opts.__dict__, "manifest": manifests["churn"]}), ctx, None, {})
    assert not (target / "dc_impl" / "old" / "deep" / "gone_00.py").exists()
    assert (target / "dc_impl" / "new" / "sub" / "fresh_00.py").exists()
    api.restore(opts, ctx, second.backup_id)
    assert tree_digest(target) == v1  # removed files re-created, added files removed, receipt bytes back
    api.restore(opts, ctx, first)
    after = tree_digest(target)
    # the directories the v2 deploy created stay only if they are not empty; the rest is exact
    assert after == pristine, {k: (pristine.get(k), after.get(k)) for k in set(pristine) ^ set(after)}


@pytest.mark.parametrize(("key", "which"), [
    ("many", "loop.py"), ("churn", "dc_impl/feature_toggles.json"), ("churn", "dc_impl/receipt.json"),
    pytest.param("churn", "dc_impl/keep_01.py", marks=pytest.mark.slow),
    pytest.param("churn", "dc_impl/old/deep/gone_02.py", marks=pytest.mark.slow)])
def test_flipped_bit_in_backup_is_refused(key: str, which: str, tmp_path: Path,
                                          project: tuple[Path, dict[str, Path]]) -> None:
    """D2: restore checks every hash first: exit 6 naming that file, the target untouched, no new backup."""
    root, manifests = project
    prep = relkit.prepare(root, manifests, key, "restore", tmp_path / "case")
    store = BackupStore(prep.backup_dir)
    backup = store.get(prep.target, prep.args[1])
    stored = backup.stored(which)
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x10
    os.chmod(stored, 0o600)
    stored.write_bytes(bytes(data))
    n_backups = len(store.all())
    proc = relkit.run_cli(root, prep.args, env=prep.env)
    assert proc.returncode == 6, proc.stderr
    assert which in proc.stderr and "corrupt" in proc.stderr and "Traceback" not in proc.stderr
    assert relkit.ndigest(prep.target) == prep.old
    assert len(store.all()) == n_backups


def test_missing_backup_object_is_refused(tmp_path: Path, project: tuple[Path, dict[str, Path]]) -> None:
    root, manifests = project
    prep = relkit.prepare(root, manifests, "many", "restore", tmp_path / "case")
    BackupStore(prep.backup_dir).get(prep.target, prep.args[1]).stored("loop.py").unlink()
    proc = relkit.run_cli(root, prep.args, env=prep.env)
    assert proc.returncode == 6 and "loop.py" in proc.stderr, proc.stderr
    assert relkit.ndigest(prep.target) == prep.old


class _FrozenClock:
    """One fixed instant, injected into the setup and the burst alike (never mixed with the real clock)."""

    def __init__(self, when: _dt.datetime) -> None:
        self.when = when

    def __call__(self) -> _dt.datetime:
        return self.when


@pytest.mark.parametrize("count", [25, pytest.param(100, marks=pytest.mark.slow)])
@pytest.mark.parametrize("frozen", [_dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=_dt.UTC),
                                    _dt.datetime(2099, 1, 1, 0, 0, 0, tzinfo=_dt.UTC)], ids=["2026", "2099"])
def test_many_backups_in_one_second_get_distinct_sorted_ids(count: int, frozen: _dt.datetime, tmp_path: Path,
                                                               project: tuple[Path, dict[str, Path]]) -> None:
    """D3: 100 transactions within the same (frozen) second: 100 distinct ids, listed in creation order."""
    root, manifests = project
    clock = _FrozenClock(frozen)
    prep = relkit.prepare(root, manifests, "one", "toggle", tmp_path / "case", clock=clock)
    ctx = relkit.quiet_ctx(root, clock=clock)
    opts = api.Options(target=prep.target, backup_dir=prep.backup_dir, verify=False)
    ids = [api.set_toggles(opts, ctx, {"use_streaming_file": i % 2 == 0}).backup_id for i in range(count)]
    assert len(set(ids)) == count and ids == sorted(ids)
    listing = list(reversed(api.list_backups(opts, ctx).backups))
    assert [b["id"] for b in listing][-count:] == ids
    seqs = [b["sequence"] for b in listing]
    assert seqs == list(range(1, count + 2))  # the setup's backup, then the burst, one number each
    for b in BackupStore(prep.backup_dir).all():
        assert json.loads((b.root / "backup.json").read_text())["id"] == b.root.name


BURST = """
import io, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from rich.console import Console
from dc_deploy import api
from dc_deploy.context import Context
ctx = Context(err=Console(file=io.StringIO()), project_root=Path(sys.argv[1]), progress=False)
opts = api.Options(target=Path(sys.argv[2]), backup_dir=Path(sys.argv[3]), verify=False, lock_timeout=60)
for i in range(int(sys.argv[4])):
    print(api.set_toggles(opts, ctx, {"use_streaming_thinking": i % 2 == 0}).backup_id, flush=True)
"""


@pytest.mark.parametrize(("procs", "each"), [pytest.param(4, 10, id="4x10"),
                                             pytest.param(8, 40, id="8x40", marks=pytest.mark.slow)])
def test_backup_ids_unique_under_a_burst_of_processes(procs: int, each: int, tmp_path: Path,
                                                      project: tuple[Path, dict[str, Path]]) -> None:
    """D3: writers on different targets (different locks) share one backup dir: no id is handed out twice."""
    root, manifests = project
    shared = tmp_path / "shared-backups"
    targets = []
    for i in range(procs):
        prep = relkit.prepare(root, manifests, "one", "toggle", tmp_path / f"t{i}")
        targets.append(prep.target)
        for b in BackupStore(prep.backup_dir).all():  # move the setup backups aside: only the burst counts
            b.root.rename(tmp_path / f"t{i}" / f"setup-{b.id}")
    running = [subprocess.Popen([sys.executable, "-c", BURST, str(root), str(t), str(shared), str(each)],
                                stdout=subprocess.PIPE, text=True) for t in targets]
    ids, per_process = [], []
    for p in running:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0
        ids += out.split()
        per_process.append(out.split())
    assert len(ids) == procs * each == len(set(ids))
    on_disk = BackupStore(shared).all()
    assert sorted(b.id for b in on_disk) == sorted(ids)
    for b in on_disk:
        assert b.status == "COMMITTED" and b.meta["target"] in {str(t) for t in targets}
    # one sequence number each, with no gap: allocation is safe across targets (different installer locks)
    assert sorted(b.sequence or 0 for b in on_disk) == list(range(1, procs * each + 1))
    for t, made in zip(targets, per_process, strict=True):  # each target's backups listed in the order made
        mine = [b.id for b in on_disk if b.meta["target"] == str(t)]
        assert mine == made
