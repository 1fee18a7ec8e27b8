"""The ui_hook check against trees deployed by the real installer with --update-ui."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dc_verify.checks import CHECKS, skip_reason
from dc_verify.checks.child_env import ChildEnv
from dc_verify.checks.dispatch import run_one
from dc_verify.checks.target import load_target
from dc_verify.runner import VerifyOptions, verify

ROOT = Path(__file__).resolve().parents[2]
HAS_STREAMLIT = importlib.util.find_spec("streamlit") is not None


def _installer(*args: str, env: dict[str, str]) -> dict[str, object]:
    run = subprocess.run([sys.executable, str(ROOT / "integrate_streaming.py"), *args, "--json"], env=env,
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stand-in with --integrate --update-ui (verification off: this module runs the check itself)."""
    work = tmp_path_factory.mktemp("ui-check")
    target = work / "computer_use_demo"
    shutil.copytree(ROOT / "examples" / "computer_use_demo", target,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tests"))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DC_")}, "DC_BACKUP_DIR": str(work / "b"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    manifest = work / "m.json"
    _installer("--build-manifest", "--version", "1.1.0", "--output", str(manifest), env=env)
    _installer("--integrate", "--update-ui", "--enable-unified-streaming=false", "--no-verify", "--target",
               str(target), "--manifest", str(manifest), env=env)
    return target


def _copy(deployed: Path, tmp_path: Path) -> Path:
    target = tmp_path / "computer_use_demo"
    shutil.copytree(deployed, target, symlinks=True)
    return target


def test_ui_hook_check_is_registered_for_the_ui_hook_component() -> None:
    spec = CHECKS["ui_hook"]
    assert (spec.group, spec.where, spec.component, spec.toggle) == ("ui", "child", "ui-hook", None)


@pytest.mark.skipif(not HAS_STREAMLIT, reason="streamlit is not installed in this interpreter")
def test_passes_on_a_deployed_tree_whatever_the_toggle_and_leaves_the_toggles_alone(deployed: Path) -> None:
    toggles = (deployed / "dc_impl" / "feature_toggles.json").read_bytes()
    suite = verify(VerifyOptions(target=deployed, checks=("ui_hook", "receipt")))
    result = {c.name: (c.status, c.detail) for c in suite.checks}
    assert result["ui_hook"][0] == "pass", result
    assert "streaming page is served" in result["ui_hook"][1]
    assert suite.passed and (deployed / "dc_impl" / "feature_toggles.json").read_bytes() == toggles


@pytest.mark.skipif(not HAS_STREAMLIT, reason="streamlit is not installed in this interpreter")
@pytest.mark.parametrize("damage", ["hook module missing", "block disabled", "block removed"])
def test_fails_when_the_hook_does_not_hand_the_page_over(deployed: Path, tmp_path: Path, damage: str) -> None:
    target = _copy(deployed, tmp_path)
    page = target / "streamlit.py"
    if damage == "hook module missing":
        (target / "dc_impl" / "ui_hook.py").unlink()
    elif damage == "block disabled":
        page.write_bytes(page.read_bytes().replace(b"_dc_ui_hook.serve()", b"pass"))
    else:
        page.write_bytes((ROOT / "examples" / "computer_use_demo" / "streamlit.py").read_bytes())
    status, detail = {c.name: (c.status, c.detail) for c in
                      verify(VerifyOptions(target=target, checks=("ui_hook",))).checks}["ui_hook"]
    assert status == "fail", detail
    expected = "has no UI hook block" if damage == "block removed" else "still served upstream's page"
    assert expected in detail


def test_skipped_with_the_reason_where_the_interpreter_has_no_streamlit(deployed: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "streamlit.testing.v1", None)  # the import fails as if not installed
    info = load_target(ROOT, deployed)
    env = ChildEnv(project_root=ROOT, target=deployed, package=info.package, impl_module="dc_impl", toggles=None,
                   components=None, live=False, tmp=tmp_path)
    status, _, detail = run_one("ui_hook", env)
    assert status == "skip"
    assert f"the interpreter {sys.executable} cannot import 'streamlit'" in detail and "--python" in detail


def test_not_required_without_the_component(tmp_path: Path) -> None:
    info = load_target(ROOT, None)
    assert skip_reason(CHECKS["ui_hook"], info, live=False, environ={}) is None  # no target: the check says why
    env = ChildEnv(project_root=ROOT, target=None, package=None, impl_module="dc_impl", toggles=None,
                   components=None, live=False, tmp=tmp_path)
    assert run_one("ui_hook", env)[0::2] == ("skip", "no --target: the UI hook lives in a deployed tree's streamlit.py")
