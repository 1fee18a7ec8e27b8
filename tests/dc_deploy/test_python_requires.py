"""Per-component Python dependencies (``python_requires``): the installer refuses, before any change,
an agent interpreter that lacks a module a selected component needs.

The agent interpreter is a real second venv (``python -m venv --without-pip``) that sees the
installer's packages through a ``.pth`` entry pointing at a *filtered* copy of the installer's
site-packages: symlinks to everything except ``mss`` and ``prometheus_client``. So it can run the
agent (anthropic and the rest are there) but lacks exactly the screenshot tool's capture library and
the metrics library.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from dc_deploy import python_deps
from dc_deploy.build import COMPONENT_SPECS
from dc_deploy.manifest import load_manifest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "computer_use_demo"
LEFT_OUT = ("mss", "prometheus_client")


def _purelib(python: Path) -> Path:
    out = subprocess.run([str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True, timeout=60)
    return Path(out.stdout.strip())


@pytest.fixture(scope="module")
def lacking_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("agent-lacking")
    filtered = base / "site"
    filtered.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if entry.name.split("-")[0].split(".")[0] in LEFT_OUT:
            continue
        (filtered / entry.name).symlink_to(entry)
    root = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    (_purelib(python) / "installer-packages.pth").write_text(f"{filtered}\n")
    for module, present in (("anthropic", True), ("PIL", True), ("mss", False), ("prometheus_client", False)):
        proc = subprocess.run([str(python), "-I", "-c", f"import {module}"], capture_output=True, timeout=60)
        assert (proc.returncode == 0) is present, (module, proc.stderr)
    return python


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("manifest") / "streaming-1.0.0.json"
    built = subprocess.run([sys.executable, str(REPO / "integrate_streaming.py"), "--build-manifest", "--version",
                            "1.0.0", "--output", str(out)], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    return out


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def _run(tmp_path: Path, manifest: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DC_VERIFY_COMMAND", "DC_PROJECT_ROOT", "DC_METRICS_DIR")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    common = ["--target", str(tmp_path / "prod" / "computer_use_demo"), "--backup-dir", str(tmp_path / "backups"),
              "--manifest", str(manifest), "--no-progress"]
    return subprocess.run([sys.executable, str(REPO / "integrate_streaming.py"), *common, *args], capture_output=True,
                          text=True, timeout=300, env=env)


def test_the_built_manifest_names_each_components_python_modules(manifest: Path) -> None:
    m = load_manifest(manifest)
    assert m.components["screenshot-tool"].python_requires == ("mss", "PIL")
    assert m.components["metrics"].python_requires == ("prometheus_client",)
    assert m.components["core"].python_requires == () and m.components["bash-tool"].python_requires == ()
    raw = {c["id"]: c for c in m.raw["components"]}
    assert "python_requires" not in raw["core"]  # absent, not empty, where nothing is needed


def test_an_interpreter_lacking_a_components_module_is_refused_before_any_change(
        tmp_path: Path, lacking_venv: Path, manifest: Path) -> None:
    target = tmp_path / "prod" / "computer_use_demo"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    before = _tree(target)
    for selection, module, component, package in (
            (["--all"], "mss", "screenshot-tool", "mss prometheus_client"),
            (["--screenshot-tool"], "mss", "screenshot-tool", "mss"),
            (["--metrics"], "prometheus_client", "metrics", "prometheus_client")):
        for extra in ([], ["--dry-run"], ["--no-verify"]):
            proc = _run(tmp_path, manifest, "--integrate", *selection, *extra, "--python", str(lacking_venv))
            assert proc.returncode == 2, (selection, extra, proc.stdout, proc.stderr)
            assert "Traceback" not in proc.stderr
            text = " ".join(proc.stderr.split())
            assert f"component {component!r} needs the Python module {module!r}" in text, text
            assert f"agent interpreter {lacking_venv}" in text and "nothing was changed" in text, text
            assert f"{lacking_venv} -m pip install {package}" in text, text
            assert _tree(target) == before and not (tmp_path / "backups").exists()
    as_json = _run(tmp_path, manifest, "--integrate", "--metrics", "--python", str(lacking_venv), "--json")
    doc = json.loads(as_json.stdout)
    assert as_json.returncode == 2 and doc["error"]["data"]["missing"] == ["prometheus_client"]
    assert doc["error"]["data"]["component"] == "metrics"


def test_components_without_those_modules_deploy_and_verify_with_that_interpreter(
        tmp_path: Path, lacking_venv: Path, manifest: Path) -> None:
    target = tmp_path / "prod" / "computer_use_demo"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    proc = _run(tmp_path, manifest, "--integrate", "--bash-tool", "--file-tool", "--unified-streaming",
                "--enable-unified-streaming=true", "--enable-streaming-bash=true", "--python", str(lacking_venv),
                "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["verification"]["passed"] and doc["verification"]["python"] == str(lacking_venv)
    assert not (target / "dc_impl" / "metrics").exists()  # the loop runs without the metrics component


def test_the_installers_own_interpreter_is_asked_in_process() -> None:
    assert python_deps.missing_modules(sys.executable, ["mss", "PIL", "dc_no_such_module_x"]) == ["dc_no_such_module_x"]
    assert python_deps.missing_modules(sys.executable, []) == []


def test_every_python_requirement_is_an_import_name_of_a_declared_extra() -> None:
    """The modules the manifest requires are the ones setup.cfg's extras install (so ``pip install
    claude-dc-streaming[screenshot,metrics]`` is the fix), spelled as import names."""
    setup = (REPO / "setup.cfg").read_text()
    for spec in COMPONENT_SPECS:
        for module in spec.python_requires:
            package = python_deps.PIP_NAMES.get(module, module)
            assert f"\n    {package}>=" in setup, (spec.id, module, package)
