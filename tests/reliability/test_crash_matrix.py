"""A1 + A3: SIGKILL at every named failpoint, for 3 manifests x {integrate, restore, toggle flip}.

After the kill, the next command that takes the lock must leave the target at exactly the old or the
new state (``relkit.ndigest``), the toggles file byte-equal to the old or new one, no temp files, no
journal, every backup verifying, and the lock free within 1 s. ``make test`` runs one failpoint per
phase (marked ``reliability``); ``make reliability`` runs every failpoint x manifest x operation and,
for failpoints hit several times, the first, the middle and the last hit.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import relkit

from dc_deploy.failpoints import ALL, ENV

pytestmark = pytest.mark.reliability

FAST = {("many", "integrate", "after_journal"), ("many", "integrate", "before_replace"),
        ("many", "integrate", "toggle_after_temp"), ("many", "integrate", "verify_started"),
        ("churn", "integrate", "after_commit"), ("churn", "restore", "mid_restore"),
        ("many", "restore", "mid_backup"), ("one", "toggle", "toggle_after_replace"),
        ("one", "toggle", "after_lock")}
# failpoints each operation must pass (so the matrix is never vacuous)
MUST_REACH = {
    "integrate": {"after_lock", "after_journal", "before_replace", "after_replace", "after_receipt",
                  "toggle_after_temp", "toggle_after_replace", "verify_started", "after_commit"},
    "restore": {"after_lock", "mid_backup", "after_journal", "before_replace", "mid_restore", "after_receipt",
                "toggle_after_temp", "toggle_after_replace", "after_commit"},
    "toggle": {"after_lock", "mid_backup", "after_journal", "toggle_after_temp", "toggle_after_replace",
               "verify_started", "after_commit"},
}


def _cases() -> list[object]:
    out: list[object] = []
    for key in relkit.MANIFESTS:
        for op in relkit.OPERATIONS:
            for name in ALL:
                marks = [] if (key, op, name) in FAST else [pytest.mark.slow]
                out.append(pytest.param(key, op, name, marks=marks, id=f"{key}-{op}-{name}"))
    return out


def _picks(count: int, fast: bool) -> list[int]:
    if fast:
        return [(count + 1) // 2]
    return sorted({1, (count + 1) // 2, count})


def _op_cases() -> list[object]:
    fast = {("many", "integrate"), ("churn", "restore"), ("one", "toggle")}
    return [pytest.param(k, op, marks=[] if (k, op) in fast else [pytest.mark.slow], id=f"{k}-{op}")
            for k in relkit.MANIFESTS for op in relkit.OPERATIONS]


@pytest.mark.parametrize(("key", "op"), _op_cases())
def test_operation_passes_its_failpoints(key: str, op: str, reference: Callable[[str, str], relkit.Reference]) -> None:
    ref = reference(key, op)
    expected = set(MUST_REACH[op])
    if key == "one" and op == "integrate":
        expected.discard("mid_backup")  # nothing to back up: every path is new
    assert expected <= set(ref.hits), sorted(expected - set(ref.hits))
    assert set(ref.hits) <= set(ALL)


@pytest.mark.parametrize(("key", "op", "name"), _cases())
def test_kill_at_failpoint_converges(key: str, op: str, name: str, tmp_path: Path,
                                     project: tuple[Path, dict[str, Path]],
                                     reference: Callable[[str, str], relkit.Reference]) -> None:
    root, manifests = project
    ref = reference(key, op)
    count = ref.count(name)
    if count == 0:  # not on this operation's path: armed, it must change nothing about the run
        prep = relkit.prepare(root, manifests, key, op, tmp_path / "unreached")
        proc = relkit.run_cli(root, prep.args, env={**prep.env, ENV: name})
        assert proc.returncode == 0, proc.stderr
        assert relkit.check_converged(prep, ref, root) == "new"
        return
    seen = []
    for nth in _picks(count, (key, op, name) in FAST):
        prep = relkit.prepare(root, manifests, key, op, tmp_path / f"hit{nth}")
        proc = relkit.run_cli(root, prep.args, env={**prep.env, ENV: f"{name}:{nth}"})
        assert proc.returncode == -signal.SIGKILL, f"{name}:{nth} did not fire (rc {proc.returncode}): {proc.stderr}"
        seen.append(relkit.check_converged(prep, ref, root))
    if name == "after_commit":
        assert set(seen) == {"new"}
    if name in ("after_lock", "after_journal"):
        assert set(seen) == {"old"}


def _failing_integrate(root: Path, manifests: dict[str, Path], key: str, where: Path) -> relkit.Prepared:
    return relkit.prepare(root, manifests, key, "integrate", where, verify_command="false")


@pytest.mark.parametrize(("key", "every"), [pytest.param("many", False, marks=pytest.mark.slow, id="many"),
                                            pytest.param("churn", True, marks=pytest.mark.slow, id="churn-every"),
                                            pytest.param("churn", False, id="churn")])
def test_kill_during_automatic_restore_converges_to_old(key: str, every: bool, tmp_path: Path,
                                                        project: tuple[Path, dict[str, Path]]) -> None:
    """A3: verification fails, the automatic restore is killed at each of its steps; the next command ends at old."""
    root, manifests = project
    probe = _failing_integrate(root, manifests, key, tmp_path / "probe")
    log = tmp_path / "probe-hits.log"
    proc = relkit.run_cli(root, probe.args, env=probe.env, record_hits=log)
    assert proc.returncode == 3, proc.stderr
    assert relkit.ndigest(probe.target) == probe.old
    restores = log.read_text().split().count("mid_restore")
    assert restores >= 3
    picks = range(1, restores + 1) if every else sorted({1, restores // 2, restores})
    for nth in picks:
        prep = _failing_integrate(root, manifests, key, tmp_path / f"kill{nth}")
        proc = relkit.run_cli(root, prep.args, env={**prep.env, ENV: f"mid_restore:{nth}"})
        assert proc.returncode == -signal.SIGKILL
        relkit.recover(root, prep.target, prep.backup_dir)
        assert relkit.ndigest(prep.target) == prep.old, f"mid_restore:{nth}"
        assert relkit.toggles_bytes(prep.target) == prep.old_toggles
        assert relkit.leftovers(prep.target, prep.backup_dir) == []


def test_restore_twice_is_idempotent(tmp_path: Path, project: tuple[Path, dict[str, Path]]) -> None:
    root, manifests = project
    prep = relkit.prepare(root, manifests, "churn", "restore", tmp_path)
    first = relkit.run_cli(root, prep.args, env=prep.env)
    assert first.returncode == 0, first.stderr
    after_first = relkit.ndigest(prep.target)
    second = relkit.run_cli(root, [*prep.args, "--json"], env=prep.env)
    assert second.returncode == 0, second.stderr
    assert relkit.ndigest(prep.target) == after_first
    assert '"actions": []' in second.stdout
