"""Issue 5: with the loop hook deployed and every toggle off, upstream's own tests of loop.py pass.

The stand-in tree's loop tests (a faithful copy of upstream's pinned behaviour) are run unchanged,
in a fresh interpreter, against a deployed copy of the tree whose loop.py carries the managed block.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from dc_deploy import api

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "computer_use_demo"


def test_standin_loop_tests_pass_against_a_hooked_tree_with_toggles_off(tmp_path: Path, ctx, manifest: Path):
    target = tmp_path / "computer_use_demo"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    opts = api.Options(target=target, backup_dir=tmp_path / "backups", manifest=manifest, verify=False)
    api.integrate(opts, ctx, None, {})
    assert "claude-dc-streaming loop hook" in (target / "loop.py").read_text()
    toggles = json.loads((target / "dc_impl" / "feature_toggles.json").read_text())
    assert not any(v for k, v in toggles.items() if k != "revision")

    probe = subprocess.run(
        [sys.executable, "-c", "import json, computer_use_demo.loop as m; print(json.dumps(m.DC_STREAMING_HOOK))"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout)["installed"] is True

    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "asyncio_mode=auto",
         "--rootdir", str(tmp_path), "-c", "/dev/null", str(target / "tests" / "test_standin_loop.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout
