"""deploy/ansible/rollout.yml and rollback.yml on five local hosts, with the real ansible-playbook.

The stages share one fleet and run in file order, as an operator would: look (--check), roll out,
roll out again, try a broken release, roll back. Each test asserts its own stage on the real trees.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fleetkit
import pytest
from filelock import UnixFileLock
from fleetkit import TOGGLES, Fleet

from dc_deploy.digest import tree_digest
from dc_deploy.lock import LOCK_NAME

ROLLOUT = "Roll out claude-dc-streaming"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return fleetkit.make_fleet(tmp_path_factory.mktemp("fleet"), 5)


@pytest.fixture(scope="module")
def state() -> dict[str, Any]:
    """What one stage leaves for the next (pristine digests, the rollout's backups)."""
    return {}


def _vars(release: Path, **extra: Any) -> dict[str, Any]:
    return {"dc_installer": fleetkit.installer(release), "dc_toggles": TOGGLES, **extra}


def test_check_mode_runs_a_dry_run_and_changes_nothing(fleet: Fleet, release: Path, state: dict[str, Any]) -> None:
    state["pristine"] = fleet.digests()
    run = fleetkit.run_playbook(fleet, "rollout.yml", _vars(release), "--check", "--diff")
    assert run.rc == 0, run.output
    assert fleet.digests() == state["pristine"]
    assert not any(fleet.backup_dir(h).exists() for h in fleet.hosts), "a dry run took a backup"
    assert not any((fleet.target(h) / LOCK_NAME).exists() for h in fleet.hosts), "a dry run took the lock"
    # the installer really ran (with --dry-run) on every host, and its plan is shown
    assert "create dc_impl/receipt.json" in run.output
    assert "toggle use_streaming_thinking: false -> true" in run.output
    for h in fleet.hosts:
        r = run.hosts()[h]
        assert r["dry_run"] is True and r["rc"] == 0, r
        assert r["outcome"].startswith("would change") and r["planned_version"] == "1.0.0", r
        assert r["version_before"] is None and r["version_after"] is None, r


def test_rollout_with_toggles_reaches_every_host_in_canary_batches(fleet: Fleet, release: Path,
                                                                   state: dict[str, Any]) -> None:
    run = fleetkit.run_playbook(fleet, "rollout.yml", _vars(release))
    assert run.rc == 0, run.output
    # default serial [1, "25%", "100%"] on five hosts: host1, then host2, then host3-5
    assert fleetkit.play_starts(run.output, ROLLOUT) == 3
    assert run.output.index("changed: [host1]") < run.output.index("changed: [host2]") \
        < min(run.output.index(f"changed: [host{i}]") for i in (3, 4, 5))
    assert {h: (c["changed"], c["failed"]) for h, c in run.recap.items()} == {h: (1, 0) for h in fleet.hosts}
    state["deployed"] = {}
    for h in fleet.hosts:
        receipt = json.loads((fleet.target(h) / "dc_impl" / "receipt.json").read_text())
        toggles = json.loads((fleet.target(h) / "dc_impl" / "feature_toggles.json").read_text())
        assert receipt["version"] == "1.0.0"
        assert toggles["use_streaming_thinking"] is True and toggles["use_streaming_screenshot"] is True
        assert toggles["use_streaming_bash"] is False
        backups = fleet.backups(h)
        assert list(backups.values()) == ["COMMITTED"]
        r = run.hosts()[h]
        assert (r["version_before"], r["version_after"], r["outcome"]) == (None, "1.0.0", "deployed"), r
        assert r["backup_id"] == next(iter(backups)), r
        assert r["verification"].startswith("verification passed"), r
        state["deployed"][h] = r["backup_id"]
    assert "host1: not installed -> 1.0.0, backup backup_" in run.output  # the printed summary
    state["after_rollout"] = fleet.digests()


def test_second_identical_rollout_changes_nothing(fleet: Fleet, release: Path, state: dict[str, Any]) -> None:
    backups = {h: fleet.backups(h) for h in fleet.hosts}
    run = fleetkit.run_playbook(fleet, "rollout.yml", _vars(release))
    assert run.rc == 0, run.output
    assert {h: (c["changed"], c["failed"]) for h, c in run.recap.items()} == {h: (0, 0) for h in fleet.hosts}
    assert fleet.digests() == state["after_rollout"]
    assert {h: fleet.backups(h) for h in fleet.hosts} == backups
    for h in fleet.hosts:
        r = run.hosts()[h]
        assert (r["version_before"], r["version_after"], r["outcome"], r["backup_id"]) == \
            ("1.0.0", "1.0.0", "unchanged", None), r


def test_broken_release_fails_on_the_canary_which_is_restored_and_stops_the_rollout(
        fleet: Fleet, release: Path, broken: Path, state: dict[str, Any]) -> None:
    before = fleet.digests()
    backups = {h: fleet.backups(h) for h in fleet.hosts}
    locks = {h: (fleet.target(h) / LOCK_NAME).stat().st_mtime_ns for h in fleet.hosts}
    run = fleetkit.run_playbook(fleet, "rollout.yml", _vars(broken))
    assert run.rc != 0, run.output
    assert set(run.recap) == {"host1"} and run.recap["host1"]["failed"] == 1, run.output
    assert fleetkit.play_starts(run.output, ROLLOUT) == 1  # the second batch never started
    # the canary: the installer deployed 1.0.1, verification failed, it restored byte for byte
    assert tree_digest(fleet.target("host1")) == before["host1"]
    new = {k: v for k, v in fleet.backups("host1").items() if k not in backups["host1"]}
    assert list(new.values()) == ["FAILED"], new
    r = run.hosts()["host1"]
    assert (r["rc"], r["outcome"], r["planned_version"]) == (3, "verification failed, restored", "1.0.1"), r
    assert (r["version_before"], r["version_after"], r["backup_id"]) == ("1.0.0", "1.0.0", next(iter(new))), r
    assert "imports" in r["message"], r
    # the other four: untouched (same bytes, no new backup, the installer never even took their lock)
    for h in fleet.hosts[1:]:
        assert tree_digest(fleet.target(h)) == before[h]
        assert fleet.backups(h) == backups[h]
        assert (fleet.target(h) / LOCK_NAME).stat().st_mtime_ns == locks[h]
        assert run.hosts()[h] == {"outcome": "not reached (untouched)"}
    assert "host2: not reached (untouched)" in run.output


def test_rollback_restores_every_host_serially(fleet: Fleet, release: Path, state: dict[str, Any]) -> None:
    before = fleet.digests()
    backups = {h: fleet.backups(h) for h in fleet.hosts}
    dry = fleetkit.run_playbook(fleet, "rollback.yml", {"dc_installer": fleetkit.installer(release)}, "--check")
    assert dry.rc == 0, dry.output
    assert fleet.digests() == before and {h: fleet.backups(h) for h in fleet.hosts} == backups
    assert {h: (r["outcome"], r["restored_from"]) for h, r in dry.hosts().items()} == \
        {h: ("would change (" + str(dry.hosts()[h]["actions"]) + " actions)", state["deployed"][h]) for h in fleet.hosts}

    run = fleetkit.run_playbook(fleet, "rollback.yml", {"dc_installer": fleetkit.installer(release)})
    assert run.rc == 0, run.output
    assert fleetkit.play_starts(run.output, "Roll back claude-dc-streaming") == 5  # serial: 1
    assert {h: (c["changed"], c["failed"]) for h, c in run.recap.items()} == {h: (1, 0) for h in fleet.hosts}
    assert fleet.digests() == state["pristine"]
    for h in fleet.hosts:
        r = run.hosts()[h]
        assert (r["restored_from"], r["version_before"], r["version_after"], r["outcome"]) == \
            (state["deployed"][h], "1.0.0", None, "restored"), r
        assert fleet.backups(h)[r["backup_id"]] == "COMMITTED"  # the restore is itself undoable


def test_bad_variables_stop_the_canary_before_anything_runs(fleet: Fleet, release: Path) -> None:
    before = fleet.digests()
    run = fleetkit.run_playbook(fleet, "rollout.yml", _vars(release, dc_components=["bash-tool", "no-such"]))
    assert run.rc != 0
    assert "unknown: no-such" in run.output
    assert set(run.recap) == {"host1"}
    assert fleet.digests() == before


def test_unreachable_canary_fails_and_stops_the_rollout(tmp_path: Path, release: Path) -> None:
    """A host Ansible cannot reach counts as a failed host (Ansible alone would not count it against
    max_fail_percentage): the rollout stops and the hosts of later batches are untouched."""
    fleet = fleetkit.make_fleet(tmp_path, 3)
    with fleet.inventory.open("a") as fh:  # nothing listens on port 1: connection refused at once
        fh.write("\n[fleet]\nhost1 ansible_connection=ssh ansible_host=127.0.0.1 ansible_port=1\n")
    before = fleet.digests()
    run = fleetkit.run_playbook(fleet, "rollout.yml", _vars(release))
    assert run.rc != 0
    assert run.hosts()["host1"]["outcome"] == "unreachable", run.hosts()
    assert run.hosts()["host2"] == run.hosts()["host3"] == {"outcome": "not reached (untouched)"}
    assert fleetkit.play_starts(run.output, ROLLOUT) == 1
    assert fleet.digests() == before and not any(fleet.backups(h) for h in fleet.hosts)


@pytest.mark.slow  # about 15 s: make reliability runs it
def test_a_failed_host_stops_its_batch_from_going_on_unless_max_fail_percentage_allows_it(
        tmp_path: Path, release: Path) -> None:
    """Batches of two: host2 cannot get its lock (exit 4) while host1 deploys. With the default
    dc_max_fail_percentage 0 (50% failed > 0) hosts 3-5 are never touched; with 50 (not exceeded) they are."""
    fleet = fleetkit.make_fleet(tmp_path, 5)
    before = fleet.digests()
    extra = _vars(release, dc_serial=[2, "100%"], dc_extra_args=["--lock-timeout", "0"])
    held = UnixFileLock(str(fleet.target("host2") / LOCK_NAME), timeout=5)
    held.acquire()
    try:
        run = fleetkit.run_playbook(fleet, "rollout.yml", extra)
        assert run.rc != 0 and fleetkit.play_starts(run.output, ROLLOUT) == 1, run.output
        assert run.hosts()["host1"]["outcome"] == "deployed"
        assert run.hosts()["host2"]["outcome"] == "failed (exit 4)" and "lock" in run.hosts()["host2"]["message"]
        for h in fleet.hosts[2:]:
            assert run.hosts()[h] == {"outcome": "not reached (untouched)"}
            assert tree_digest(fleet.target(h)) == before[h] and not fleet.backups(h)

        run = fleetkit.run_playbook(fleet, "rollout.yml", {**extra, "dc_max_fail_percentage": 50})
        assert run.rc != 0 and fleetkit.play_starts(run.output, ROLLOUT) == 2, run.output
        outcomes = {h: r["outcome"] for h, r in run.hosts().items()}
        assert outcomes == {"host1": "unchanged", "host2": "failed (exit 4)", "host3": "deployed",
                            "host4": "deployed", "host5": "deployed"}
    finally:
        held.release()
    assert tree_digest(fleet.target("host2")) == before["host2"] and not fleet.backups("host2")
