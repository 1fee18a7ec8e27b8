"""``pip install`` of the wheel gives working ``integrate-streaming`` and ``verify-streaming``, without the demo
tools (``dc_verify/demo/`` needs the checkout's ``examples/`` and is left out of the wheel).

The wheel is built from this checkout and installed (``--no-deps``) into a fresh venv that finds the
dependencies in the test interpreter's site-packages through a ``.pth`` line, so the project itself is
imported only from the wheel. Then the wheel's ``verify-streaming`` verifies a tree deployed by the installer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PIP_QUIET = ["--disable-pip-version-check", "-q"]


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("wheel")
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", *PIP_QUIET, "--no-deps", "-w", str(work / "dist"),
                          str(REPO)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = (work / "dist").glob("claude_dc_streaming-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # after the venv's own
    out = subprocess.run([sys.executable, "-m", "pip", *PIP_QUIET, "--python", str(venv / "bin" / "python"),
                          "install", "--no-deps", str(wheel)], capture_output=True, text=True, timeout=300)
    if out.returncode != 0 and "no such option: --python" in out.stderr:  # pip < 22.3
        pytest.skip("this pip cannot install into another interpreter (--python)")
    assert out.returncode == 0, out.stderr[-2000:]
    return wheel, venv


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("DC_", "PYTHON"))}


def test_the_wheel_has_the_verifier_and_the_scripted_api_but_not_the_demo(wheel_venv: tuple[Path, Path]) -> None:
    names = zipfile.ZipFile(wheel_venv[0]).namelist()
    assert "dc_verify/fake_api/scripted_server.py" in names and "dc_verify/fake_api/scenarios/demo.json" in names
    assert "dc_verify/cli.py" in names and "dc_deploy/cli.py" in names and "dc_impl/feature_toggles.json" in names
    assert not [n for n in names if n.startswith("dc_verify/demo/")]


def test_the_wheels_commands_run_and_verify_a_deployed_tree(wheel_venv: tuple[Path, Path], cli_env: dict[str, str],
                                                           target: Path, manifest: Path) -> None:
    venv = wheel_venv[1]
    python, bindir = venv / "bin" / "python", venv / "bin"
    where = subprocess.run([str(python), "-c", "import dc_verify, dc_deploy; print(dc_verify.__file__)"],
                           capture_output=True, text=True, env=_env(), cwd=venv, timeout=60)
    assert str(venv) in where.stdout, where.stdout + where.stderr  # the wheel's copy, not the checkout's
    for command in ("verify-streaming", "integrate-streaming"):
        out = subprocess.run([str(bindir / command), "--help"], capture_output=True, text=True, env=_env(),
                             cwd=venv, timeout=60)
        assert out.returncode == 0 and "--target" in out.stdout, out.stderr
    deploy = subprocess.run([sys.executable, str(REPO / "integrate_streaming.py"), "--integrate", "--all",
                             "--enable-streaming-bash=true", "--enable-streaming-file=true",
                             "--enable-unified-streaming=true", "--no-verify", "--target", str(target), "--manifest", str(manifest)],
                            capture_output=True, text=True, env=cli_env, timeout=300)
    assert deploy.returncode == 0, deploy.stderr
    out = subprocess.run([str(bindir / "verify-streaming"), "--target", str(target), "--json"], capture_output=True,
                         text=True, env=_env(), cwd=venv, timeout=300)
    doc = json.loads(out.stdout)
    assert out.returncode == 0 and doc["passed"], out.stdout[-3000:] + out.stderr[-2000:]
    ran = {c["name"] for c in doc["checks"] if c["status"] == "pass"}
    assert {"receipt", "imports", "toggles", "bash_streaming", "file_roundtrip", "loop_tool_midstream"} <= ran, doc
    demo = subprocess.run([str(python), "-m", "dc_verify.chat", "--help"], capture_output=True, text=True,
                          env=_env(), cwd=venv, timeout=60)
    assert demo.returncode == 2 and "project checkout" in demo.stderr, demo.stderr
