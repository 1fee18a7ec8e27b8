"""F1: SIGINT / SIGTERM / SIGHUP while a deploy is applied roll it back and exit 130 / 143 / 129.

The signal is sent while verification runs (the new files are in place, the journal is on disk, the
transaction is not committed): the installer must kill the verifier's process group, restore the old
state, mark the backup ROLLED_BACK, and exit with 128 + signal and one clear error line.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import relkit

from dc_deploy.backups import BackupStore
from dc_deploy.journal import JOURNAL_NAME

pytestmark = pytest.mark.reliability


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                                           pytest.param(signal.SIGHUP, 129, marks=pytest.mark.slow)])
@pytest.mark.parametrize("op", ["integrate", pytest.param("toggle", marks=pytest.mark.slow)])
def test_signal_during_apply_rolls_back(sig: signal.Signals, code: int, op: str, tmp_path: Path,
                                        project: tuple[Path, dict[str, Path]]) -> None:
    root, manifests = project
    prep = relkit.prepare(root, manifests, "many", op, tmp_path / "case")
    before = {b.id for b in BackupStore(prep.backup_dir).all()}
    proc, verifier = relkit.start_hanging(root, prep, tmp_path / "verify.pid")
    assert (prep.target / JOURNAL_NAME).exists()  # mid-transaction: applied, not committed
    assert relkit.ndigest(prep.target) != prep.old
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert relkit.wait_dead(verifier, 2.0), "the verification child survived"
    assert relkit.ndigest(prep.target) == prep.old
    assert relkit.toggles_bytes(prep.target) == prep.old_toggles
    assert relkit.leftovers(prep.target, prep.backup_dir) == []
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and sig.name in errors[0] and "rolled back" in errors[0], err
    assert "Traceback" not in err
    (new,) = [b for b in BackupStore(prep.backup_dir).all() if b.id not in before]
    assert new.status == "ROLLED_BACK"
    assert relkit.lock_acquirable(prep.target, 1.0)
