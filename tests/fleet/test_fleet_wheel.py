"""dc_wheel: a fresh host with only Python gets the release through the playbook (slow: pip installs the
wheel's dependencies into a new virtualenv on each host)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import fleetkit
import pytest

pytestmark = pytest.mark.slow


def _wheel(release: Path, where: Path) -> Path:
    """Build the project's wheel from the release snapshot (its sources match its manifest)."""
    src = where / "src"
    shutil.copytree(release, src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(fleetkit.REPO / name, src / name)
    subprocess.run([fleetkit.PYTHON, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(where / "dist"), str(src)], check=True, capture_output=True, env=fleetkit.clean_env())
    (wheel,) = (where / "dist").glob("claude_dc_streaming-*.whl")
    return wheel


def test_rollout_installs_the_wheel_into_a_venv_and_deploys_with_it(tmp_path: Path, release: Path) -> None:
    fleet = fleetkit.make_fleet(tmp_path / "fleet", 2)
    wheel = _wheel(release, tmp_path / "build")
    with fleet.inventory.open("a") as fh:  # each host its own virtualenv (they share one machine here)
        fh.write("".join(f"\n[fleet]\n{h} dc_venv={fleet.root / h / 'venv'}\n" for h in fleet.hosts))
    # streamlit-ui is left out: the venv has no streamlit (upstream's image has it), and a wheel install has no
    # verify_streaming.py, so the installer's fallback import check would fail on the UI modules
    extra = {"dc_wheel": str(wheel), "dc_venv_python": fleetkit.PYTHON, "dc_toggles": fleetkit.TOGGLES,
             "dc_components": "bash-tool, file-tool, unified-streaming"}
    run = fleetkit.run_playbook(fleet, "rollout.yml", extra, timeout=900)
    assert run.rc == 0, run.output
    for h in fleet.hosts:
        venv = fleet.root / h / "venv"
        assert (venv / "wheels" / wheel.name).read_bytes() == wheel.read_bytes()
        assert (venv / "bin" / "integrate-streaming").exists()
        receipt = json.loads((fleet.target(h) / "dc_impl" / "receipt.json").read_text())
        assert receipt["version"] == "1.0.0"
        r = run.hosts()[h]
        assert (r["outcome"], r["version_after"]) == ("deployed", "1.0.0"), r
        backup = json.loads(next(fleet.backup_dir(h).glob("backup_*/backup.json")).read_text())
        assert backup["command"].startswith("integrate-streaming "), backup["command"]  # the venv's console script
    again = fleetkit.run_playbook(fleet, "rollout.yml", extra, timeout=900)
    assert again.rc == 0, again.output
    assert {h: c["changed"] for h, c in again.recap.items()} == {h: 0 for h in fleet.hosts}
