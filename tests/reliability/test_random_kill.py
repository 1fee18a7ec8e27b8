"""A2: SIGKILL / SIGTERM at a uniformly random time during ``--integrate`` (OSTree-style).

The kill time is uniform in [0, 1.1 x median run time] of the real CLI (measured from its start) deploying
the ``many`` manifest (33 files, the loop.py block, toggles, verification), 85 % SIGKILL and 15 % SIGTERM.
After each kill the next locking command must leave exactly the old or the new state. ``make test``
runs 10 kills; ``make reliability`` runs 200 and requires kills to have landed before the commit
point, after it, and in the middle of a transaction (a journal on disk at kill time).
"""

from __future__ import annotations

import random
import signal
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import relkit

from dc_deploy.journal import JOURNAL_NAME

pytestmark = pytest.mark.reliability


def _median_run(root: Path, manifests: dict[str, Path], where: Path, n: int) -> float:
    runs = []
    for i in range(n):
        prep = relkit.prepare(root, manifests, "many", "integrate", where / f"t{i}")
        t0 = time.monotonic()
        proc = relkit.run_cli(root, prep.args, env=prep.env)
        runs.append(time.monotonic() - t0)
        assert proc.returncode == 0, proc.stderr
    return statistics.median(runs)


def _kill_once(root: Path, manifests: dict[str, Path], where: Path, rng: random.Random, lo: float, hi: float,
               ref: relkit.Reference) -> dict[str, Any]:
    prep = relkit.prepare(root, manifests, "many", "integrate", where)
    sig = signal.SIGKILL if rng.random() < 0.85 else signal.SIGTERM
    delay = rng.uniform(lo, hi)
    proc = subprocess.Popen(relkit.cli_argv(root, prep.args), env=prep.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    finished_first = proc.poll() is not None
    proc.send_signal(sig)
    journal_at_kill = (prep.target / JOURNAL_NAME).exists()
    _, err = proc.communicate(timeout=60)
    rc = proc.returncode
    if sig == signal.SIGTERM and rc not in (-signal.SIGTERM, 0):
        # caught inside the transaction (rolled back) or while starting (nothing changed yet): exit 143, one
        # clear line, no traceback
        assert rc == 143, err
        assert "Traceback" not in err and ("rolled back" in err or "while starting; nothing was changed" in err)
    state = relkit.check_converged(prep, ref, root)
    if rc == 143:
        assert state == "old"
    return {"signal": sig.name, "delay": delay, "rc": rc, "state": state, "mid_transaction": journal_at_kill,
            "finished_first": finished_first}


@pytest.mark.parametrize("runs", [pytest.param(10, id="10"), pytest.param(200, id="200", marks=[pytest.mark.slow, pytest.mark.timeout(1200)])])
def test_random_kill_during_integrate(runs: int, tmp_path: Path, project: tuple[Path, dict[str, Path]],
                                      record_property: Any) -> None:
    root, manifests = project
    ref = relkit.reference_run(root, manifests, "many", "integrate", tmp_path / "ref")
    median = _median_run(root, manifests, tmp_path / "timing", 3 if runs >= 200 else 1)
    lo, hi = 0.0, 1.1 * median
    rng = random.Random(20261128 + runs)
    results = [_kill_once(root, manifests, tmp_path / f"k{i}", rng, lo, hi, ref) for i in range(runs)]
    old = sum(r["state"] == "old" for r in results)
    new = sum(r["state"] == "new" for r in results)
    mid = sum(r["mid_transaction"] for r in results)
    term = sum(r["signal"] == "SIGTERM" for r in results)
    late = sum(r["finished_first"] for r in results)
    summary = {"runs": runs, "old": old, "new": new, "mid_transaction": mid, "sigterm": term, "finished_first": late,
               "window_s": [round(lo, 3), round(hi, 3)]}
    record_property("random_kill", summary)
    print(summary)
    assert old + new == runs
    if runs >= 200:
        assert old > 0 and new > 0 and mid > 0 and term > 0, summary
