"""The fallback verification (no verify_streaming.py, e.g. a wheel install) on a host without streamlit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN = """
import runpy, sys
sys.modules["streamlit"] = None  # this interpreter has no streamlit
sys.argv = ["_importcheck.py", sys.argv[1]]
runpy.run_path({script!r}, run_name="__main__")
"""


def _check(target: Path) -> tuple[int, dict]:
    script = str(REPO / "dc_deploy" / "_importcheck.py")
    proc = subprocess.run([sys.executable, "-c", RUN.format(script=script), str(target)], capture_output=True,
                          text=True, timeout=120)
    return proc.returncode, json.loads(proc.stdout)


def test_a_front_end_needing_streamlit_is_skipped_not_failed(tmp_path: Path) -> None:
    target = tmp_path / "computer_use_demo"
    (target / "dc_impl").mkdir(parents=True)
    (target / "__init__.py").write_text("")
    (target / "dc_impl" / "__init__.py").write_text("")
    (target / "dc_impl" / "ui.py").write_text("import streamlit\n")
    (target / "dc_impl" / "core.py").write_text("X = 1\n")
    rc, doc = _check(target)
    assert rc == 0 and doc["passed"], doc
    by = {c["name"].rsplit(".", 1)[-1]: c for c in doc["checks"]}
    assert by["ui"]["status"] == "skip" and "streamlit" in by["ui"]["detail"]
    # a missing module that is not optional is still a failure
    (target / "dc_impl" / "broken.py").write_text("import no_such_module_here\n")
    rc, doc = _check(target)
    assert rc == 1 and not doc["passed"]
