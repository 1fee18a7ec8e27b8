"""A rollout killed in the middle of a batch, then run again: every host ends old or new, never mixed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import fleetkit
import pytest
from fleetkit import TOGGLES, Fleet


def _freeze_and_kill(pid: int) -> list[int]:
    """SIGSTOP the whole tree under ``pid`` until no new process appears, then SIGKILL all of it."""
    stopped: set[int] = set()
    while True:
        found = [p for p in fleetkit.descendants(pid) if p not in stopped]
        if not found:
            break
        for p in found:
            try:
                os.kill(p, signal.SIGSTOP)
            except ProcessLookupError:
                pass
            stopped.add(p)
    for p in stopped:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return sorted(stopped)


def _gone(pids: list[int], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for p in pids:
            try:
                with open(f"/proc/{p}/stat", encoding="utf-8") as fh:
                    if fh.read().rsplit(")", 1)[1].split()[0] != "Z":
                        alive.append(p)
            except OSError:
                pass
        if not alive:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow  # about 20 s: make reliability runs it
@pytest.mark.reliability
def test_kill_during_a_batch_then_rerun_leaves_every_host_old_or_new(tmp_path: Path, release: Path) -> None:
    fleet: Fleet = fleetkit.make_fleet(tmp_path, 5)
    old = fleet.stable_digests()
    extra = {"dc_installer": fleetkit.installer(release), "dc_toggles": TOGGLES}
    last_batch = fleet.hosts[2:]  # serial [1, "25%", "100%"]: host1, host2, then host3-5 together
    proc = subprocess.Popen(fleetkit.playbook_argv(fleet, "rollout.yml", extra), cwd=tmp_path,
                            env=fleetkit.ansible_env(fleet), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while not [h for h in last_batch if h in fleet.journals()]:  # an installer of batch 3 is mid-transaction
            assert proc.poll() is None, "the rollout ended before the last batch was caught mid-transaction"
            assert time.monotonic() < deadline, "no transaction of the last batch seen"
            time.sleep(0.01)
        killed = _freeze_and_kill(proc.pid)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert _gone(killed), "processes of the killed rollout survived"
    interrupted = fleet.journals()
    assert interrupted and set(interrupted) <= set(last_batch), interrupted  # the kill hit mid-transaction

    # hosts without a journal are old or new; an interrupted one is old as soon as any command takes its lock
    new = fleetkit.stable_digest(fleet.target("host1"))
    assert new != old["host1"] and fleetkit.stable_digest(fleet.target("host2")) == new
    # (a host killed during its verification already holds every new file: it is interrupted all the same)
    states = {h: "interrupted" if h in interrupted else "old" if d == old[h] else "new" if d == new else "mixed"
              for h, d in fleet.stable_digests().items()}
    assert "mixed" not in states.values(), states
    _rerun_finishes(fleet, extra, old, new, states, interrupted)


def _rerun_finishes(fleet: Fleet, extra: dict[str, object], old: dict[str, object], new: dict[str, object],
                    states: dict[str, str], interrupted: list[str]) -> None:
    run = fleetkit.run_playbook(fleet, "rollout.yml", extra)
    assert run.rc == 0, run.output
    assert fleet.stable_digests() == {h: new for h in fleet.hosts}
    assert fleet.journals() == []
    for h in fleet.hosts:
        statuses = list(fleet.backups(h).values())
        assert statuses.count("COMMITTED") == 1, statuses
        recovered = run.hosts()[h]["recovered"]
        changed = run.recap[h]["changed"]
        if h not in interrupted:
            assert recovered is None and changed == int(states[h] == "old"), (h, recovered, changed)
        elif recovered.startswith("rolled back the interrupted integrate"):  # then deployed afresh
            assert changed == 1 and "ROLLED_BACK" in statuses, (h, changed, statuses)
        else:  # killed after its commit, before the journal was removed: recovery finishes it
            assert recovered.startswith("finished the interrupted integrate") and changed == 0, (h, recovered)


@pytest.mark.slow
@pytest.mark.reliability
def test_ctrl_c_during_a_batch_rolls_the_running_hosts_back_then_rerun_finishes(tmp_path: Path,
                                                                                release: Path) -> None:
    """SIGINT to ansible-playbook (Ctrl-C): Ansible signals its workers' process groups, the installers
    running there roll their hosts back themselves (no journal is left), the rerun deploys."""
    fleet: Fleet = fleetkit.make_fleet(tmp_path, 5)
    old = fleet.stable_digests()
    extra = {"dc_installer": fleetkit.installer(release), "dc_toggles": TOGGLES}
    last_batch = fleet.hosts[2:]
    proc = subprocess.Popen(fleetkit.playbook_argv(fleet, "rollout.yml", extra), cwd=tmp_path,
                            env=fleetkit.ansible_env(fleet), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while not (running := [h for h in last_batch if h in fleet.journals()]):
            assert proc.poll() is None and time.monotonic() < deadline, "no transaction of the last batch seen"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    deadline = time.monotonic() + 60
    while fleet.journals() and time.monotonic() < deadline:  # the installers finish their rollback
        time.sleep(0.05)
    assert fleet.journals() == []
    new = fleetkit.stable_digest(fleet.target("host1"))
    states = {h: "old" if d == old[h] else "new" if d == new else "mixed" for h, d in fleet.stable_digests().items()}
    assert "mixed" not in states.values(), states
    rolled_back = [h for h in running if "ROLLED_BACK" in fleet.backups(h).values()]
    assert rolled_back, {h: fleet.backups(h) for h in running}
    assert all(states[h] == "old" for h in rolled_back), states
    _rerun_finishes(fleet, extra, old, new, states, [])
