"""B1-B3: failing, crashing and hanging verification; rollback target choice; retention keeps the last good backup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import relkit

from dc_deploy import api
from dc_deploy.backups import BackupStore
from dc_deploy.errors import VerificationFailedError
from dc_deploy.toggle_store import AUDIT_FILE

pytestmark = pytest.mark.reliability


def _verifier(kind: str, pidfile: Path) -> tuple[str, list[str]]:
    if kind == "exit-1":
        return "false", []
    if kind == "crash":
        return "sh -c 'kill -SEGV $$'", []
    # hangs, with a grandchild that must die with its group
    return f"sh -c 'sleep 300 & echo $! > {pidfile}; wait'", ["--verify-timeout", "1"]


@pytest.mark.parametrize("kind", ["exit-1", "crash", "hang"])
@pytest.mark.parametrize("op", ["integrate", pytest.param("toggle", marks=pytest.mark.slow)])
def test_failed_verification_restores_old_state(kind: str, op: str, tmp_path: Path,
                                                project: tuple[Path, dict[str, Path]]) -> None:
    root, manifests = project
    prep = relkit.prepare(root, manifests, "many", op, tmp_path / "case")
    pidfile = tmp_path / "grandchild.pid"
    command, extra = _verifier(kind, pidfile)
    before = {b.id for b in BackupStore(prep.backup_dir).all()}
    proc = relkit.run_cli(root, [*prep.args, *extra, "--json"], env={**prep.env, "DC_VERIFY_COMMAND": command})
    assert proc.returncode == 3, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and doc["error"]["exit_code"] == 3 and doc["verification"]["passed"] is False
    assert "Traceback" not in proc.stderr
    assert relkit.ndigest(prep.target) == prep.old
    assert relkit.toggles_bytes(prep.target) == prep.old_toggles
    assert relkit.leftovers(prep.target, prep.backup_dir) == []
    (failed,) = [b for b in BackupStore(prep.backup_dir).all() if b.id not in before]
    assert failed.status == "FAILED"
    audit = [json.loads(line) for line in (prep.backup_dir / AUDIT_FILE).read_text().splitlines()]
    assert audit[-1]["result"] == "rolled_back" and audit[-1]["backup_id"] == failed.id
    if kind == "hang":
        assert "timed out" in proc.stderr
        assert relkit.wait_dead(int(pidfile.read_text()), 2.0), "the verifier's grandchild survived"


def _ctx(root: Path, command: str) -> object:
    return relkit.quiet_ctx(root, environ={**relkit.base_env(root), "DC_VERIFY_COMMAND": command})


def _good_then_failures(root: Path, manifests: dict[str, Path], where: Path, failures: int
                        ) -> tuple[api.Options, str, dict[str, object]]:
    target = relkit.make_target(where)
    pristine = relkit.ndigest(target)
    opts = api.Options(target=target, backup_dir=where / "backups", manifest=manifests["one"], verify=True,
                       lock_timeout=10)
    good = api.integrate(opts, _ctx(root, "true"), None, {}).backup_id  # type: ignore[arg-type]
    for i in range(failures):
        flips = {"use_streaming_bash": True, "use_streaming_file": bool(i % 2)}
        with pytest.raises(VerificationFailedError):
            api.set_toggles(opts, _ctx(root, "false"), flips)  # type: ignore[arg-type]
    return opts, str(good), pristine


def test_restore_latest_picks_the_last_committed_backup(tmp_path: Path,
                                                        project: tuple[Path, dict[str, Path]]) -> None:
    """B2: after 5 failed deploys, ``--restore latest`` uses the last COMMITTED backup, not the newest one."""
    root, manifests = project
    opts, good, pristine = _good_then_failures(root, manifests, tmp_path, 5)
    statuses = [b.status for b in BackupStore(opts.backup_dir).all()]
    assert statuses == ["COMMITTED"] + ["FAILED"] * 5
    res = api.restore(opts, relkit.quiet_ctx(root), "latest")
    assert res.restored_from == good
    assert relkit.ndigest(opts.target) == pristine


def test_retention_keeps_the_last_good_backup(tmp_path: Path, project: tuple[Path, dict[str, Path]]) -> None:
    """B3: keep=3 after 1 good + 10 failed deploys: the good one survives pruning and still restores."""
    root, manifests = project
    opts, good, pristine = _good_then_failures(root, manifests, tmp_path, 10)
    res = api.prune(opts, relkit.quiet_ctx(root), 3)
    kept = res.as_dict()["kept"]
    assert good in kept and len(kept) == 4 and len(res.as_dict()["deleted"]) == 7
    assert relkit.leftovers(opts.target, opts.backup_dir) == []
    api.restore(opts, relkit.quiet_ctx(root), good)
    assert relkit.ndigest(opts.target) == pristine
