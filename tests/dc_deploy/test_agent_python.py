"""``--python``: verification runs the deployed loop in the agent's interpreter (issue 11 item 6).

The reproduction is real: a second venv (``python -m venv``, no system site packages) is the agent's
interpreter; it holds a small package the installer's interpreter lacks, and the target's ``loop.py``
imports it -- as upstream's ``loop.py`` imports ``httpx``, which an installer venv with anthropic 2.x
(``httpx2``) does not have. Without ``--python`` the documented flow used to fail verification with
``ModuleNotFoundError`` (exit 3); now it is refused before any change with one line naming the module,
the interpreter and the fix, and ``--python`` makes it pass, recorded in the receipt and reused.

The slow variant installs only ``anthropic`` into a fresh venv from the local index and verifies
there: dc_verify's check child needs nothing else from the agent's interpreter.
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

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "computer_use_demo"
AGENT_ONLY = "dc_agent_only_dep"


def _purelib(python: Path) -> Path:
    out = subprocess.run([str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True, timeout=60)
    return Path(out.stdout.strip())


@pytest.fixture(scope="session")
def agent_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real second venv: the installer's packages (anthropic, ...) via a path entry, plus one of its own."""
    root = tmp_path_factory.mktemp("agent") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    site = _purelib(python)
    (site / "installer-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (site / AGENT_ONLY).mkdir()
    (site / AGENT_ONLY / "__init__.py").write_text('"""Only the agent\'s interpreter has this."""\nVALUE = 1\n')
    return python


@pytest.fixture(scope="session")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("manifest") / "streaming-1.0.0.json"
    built = subprocess.run([sys.executable, str(REPO / "integrate_streaming.py"), "--build-manifest", "--version",
                            "1.0.0", "--output", str(out)], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    return out


def _target(parent: Path, extra_import: str | None) -> Path:
    target = parent / "prod" / "computer_use_demo"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    if extra_import:
        loop = target / "loop.py"
        text = loop.read_text()
        assert "\nimport httpx2\n" in text
        loop.write_text(text.replace("\nimport httpx2\n", f"\nimport httpx2\nimport {extra_import}\n", 1))
    return target


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


class Installer:
    def __init__(self, target: Path, backups: Path, manifest: Path) -> None:
        self.common = ["--target", str(target), "--backup-dir", str(backups), "--manifest", str(manifest),
                       "--no-progress"]
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DC_VERIFY_COMMAND", "DC_PROJECT_ROOT", "WIDTH", "HEIGHT")}
        self.env["PYTHONDONTWRITEBYTECODE"] = "1"

    def __call__(self, *args: str, script: str = "integrate_streaming.py") -> subprocess.CompletedProcess[str]:
        common = self.common if script == "integrate_streaming.py" else self.common[:2]
        return subprocess.run([sys.executable, str(REPO / script), *common, *args], capture_output=True,
                              text=True, timeout=300, env=self.env)


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_agent_interpreter_is_checked_recorded_and_reused(tmp_path: Path, agent_venv: Path, manifest: Path) -> None:
    target = _target(tmp_path, AGENT_ONLY)
    backups = tmp_path / "backups"
    run = Installer(target, backups, manifest)
    before = _tree(target)

    # The installer's interpreter lacks what loop.py imports: refused before any change, one line.
    refused = run("--integrate", "--all", "--enable-unified-streaming=true")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    line = _one_error_line(refused)
    assert f"no module {AGENT_ONLY} (imported by loop.py)" in line and sys.executable in line
    assert "--python PATH" in line and "nothing was changed" in line
    assert _tree(target) == before and not backups.exists()

    # With the agent's interpreter: verified there, recorded in the receipt.
    ok = run("--integrate", "--all", "--enable-unified-streaming=true", "--python", str(agent_venv), "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["verification"]["passed"] and doc["verification"]["python"] == str(agent_venv)
    assert doc["verification"]["command"][-2:] == ["--python", str(agent_venv)]
    statuses = {c["name"]: c["status"] for c in doc["verification"]["checks"]}
    assert statuses["imports"] == "pass" and statuses["loop_text"] == "pass", statuses
    receipt = json.loads((target / "dc_impl" / "receipt.json").read_text())
    assert receipt["python"] == str(agent_venv)

    # --status shows it.
    status = json.loads(run("--status", "--json").stdout)
    assert status["python"] == str(agent_venv)
    assert f"agent python: {agent_venv} (recorded" in run("--status").stdout

    # A later command without --python reuses the recorded interpreter.
    other = "false" if status["toggles"]["use_streaming_thinking"] else "true"
    flip = run(f"--enable-streaming-thinking={other}", "--json")
    assert flip.returncode == 0, flip.stdout + flip.stderr
    assert json.loads(flip.stdout)["verification"]["python"] == str(agent_venv)

    # verify_streaming.py: the installer's interpreter reports the gap as such; --python passes.
    bare = run("--check", "imports", "--json", script="verify_streaming.py")
    assert bare.returncode == 1
    (check,) = json.loads(bare.stdout)["checks"]
    assert f"the interpreter {sys.executable} cannot import '{AGENT_ONLY}'" in check["detail"]
    assert "--python PATH" in check["detail"]
    good = run("--check", "imports", "--json", "--python", str(agent_venv), script="verify_streaming.py")
    assert good.returncode == 0, good.stdout + good.stderr


def test_recorded_interpreter_that_disappeared_is_named(tmp_path: Path, agent_venv: Path, manifest: Path) -> None:
    target = _target(tmp_path, None)
    backups = tmp_path / "backups"
    run = Installer(target, backups, manifest)
    gone = tmp_path / "old-venv" / "bin" / "python"
    gone.parent.mkdir(parents=True)
    gone.symlink_to(agent_venv)
    ok = run("--integrate", "--bash-tool", "--python", str(gone), "--no-verify")
    assert ok.returncode == 0, ok.stderr
    gone.unlink()
    before = _tree(target)
    refused = run("--enable-streaming-bash=false")
    assert refused.returncode == 2
    line = _one_error_line(refused)
    assert f"the agent interpreter {gone} recorded in the receipt: no such file" in line
    assert "--python" in line
    assert _tree(target) == before


def _bad_pythons(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    d = tmp_path / "bad"
    d.mkdir()
    plain = d / "not-executable"
    plain.write_text("print('hi')\n")
    script = d / "not-python"
    script.write_text("#!/bin/sh\necho hello\n")
    script.chmod(0o755)
    return {"missing": (d / "nope" / "python", "no such file"), "directory": (d, "is a directory"),
            "not executable": (plain, "not executable"), "not a Python": (script, "not a Python interpreter")}


def test_bad_python_is_refused_before_any_change(tmp_path: Path, manifest: Path) -> None:
    target = _target(tmp_path, None)
    backups = tmp_path / "backups"
    run = Installer(target, backups, manifest)
    before = _tree(target)
    for label, (path, says) in _bad_pythons(tmp_path).items():
        proc = run("--integrate", "--all", "--python", str(path))
        assert proc.returncode == 2, (label, proc.stdout, proc.stderr)
        line = _one_error_line(proc)
        assert f"--python {path}" in line and says in line, (label, line)
        assert _tree(target) == before and not backups.exists(), label
    usage = run("--status", "--python", sys.executable)
    assert usage.returncode == 2 and "--python cannot be combined with --status" in _one_error_line(usage)


def test_verify_streaming_refuses_a_bad_python_in_one_line(tmp_path: Path) -> None:
    for label, (path, _says) in _bad_pythons(tmp_path).items():
        proc = subprocess.run([sys.executable, str(REPO / "verify_streaming.py"), "--python", str(path)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, (label, proc.stdout, proc.stderr)
        line = _one_error_line(proc)
        assert f"--python {path}" in line, (label, line)


@pytest.fixture(scope="session")
def sdk_only_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the SDK (anthropic 2.x and what it pulls in) from the local index."""
    root = tmp_path_factory.mktemp("sdk-only") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
    python = root / "bin" / "python"
    pip = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "anthropic"],
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-2000:]
    return python


@pytest.mark.slow
def test_verification_needs_only_the_sdk_in_the_agents_interpreter(tmp_path: Path, sdk_only_venv: Path,
                                                                   manifest: Path) -> None:
    has = subprocess.run([str(sdk_only_venv), "-c", "import jsonschema"], capture_output=True, timeout=60)
    assert has.returncode != 0  # dc_verify's own dependencies are not there
    target = _target(tmp_path, None)
    run = Installer(target, tmp_path / "backups", manifest)
    # --all includes components with their own Python modules (mss, Pillow, prometheus_client): refused first
    refused = run("--integrate", "--all", "--python", str(sdk_only_venv), "--json")
    assert refused.returncode == 2 and "mss" in json.loads(refused.stdout)["error"]["message"], refused.stdout
    ok = run("--integrate", "--bash-tool", "--file-tool", "--unified-streaming", "--update-loop",
             "--enable-unified-streaming=true", "--enable-streaming-bash=true",
             "--enable-streaming-file=true", "--python", str(sdk_only_venv), "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    doc = json.loads(ok.stdout)
    failed = {c["name"]: c["detail"] for c in doc["verification"]["checks"] if c["status"] == "fail"}
    assert not failed, failed
    assert {c["name"] for c in doc["verification"]["checks"] if c["status"] == "pass"} >= {
        "imports", "toggles", "bash_streaming", "file_roundtrip", "loop_text", "loop_tool_midstream"}


def test_loop_requirements_follow_the_package_and_skip_optional_imports(tmp_path: Path) -> None:
    from dc_deploy.agent_python import loop_requirements

    pkg = tmp_path / "computer_use_demo"
    (pkg / "tools").mkdir(parents=True)
    (pkg / "loop.py").write_text(
        "from __future__ import annotations\nimport os, httpx\nfrom anthropic import Anthropic\n"
        "from .tools import ToolCollection\nfrom computer_use_demo import extra\n"
        "try:\n    import optional_dep\nexcept ImportError:\n    optional_dep = None\n"
        "if False:\n    import conditional_dep\n"
        "def later():\n    import lazy_dep\n")
    (pkg / "tools" / "__init__.py").write_text("from .base import ToolCollection\n")
    (pkg / "tools" / "base.py").write_text("import jsonschema.validators\nfrom . import helpers\n")
    (pkg / "tools" / "helpers.py").write_text("import boto3\n")
    (pkg / "extra.py").write_text("import google.auth\n")
    (pkg / "streamlit.py").write_text("import streamlit\n")  # not reached from loop.py
    assert loop_requirements(pkg) == {"os": "loop.py", "httpx": "loop.py", "anthropic": "loop.py",
                                      "jsonschema": "tools/base.py", "boto3": "tools/helpers.py",
                                      "google": "extra.py"}


def test_receipts_without_python_or_toggles_still_read(tmp_path: Path) -> None:
    from dc_deploy.receipt import parse_receipt

    old = {"format": 1, "name": "claude-dc-streaming", "version": "1.0.0", "components": ["core"],
           "files": {"dc_impl/x.py": {"sha256": "0" * 64, "mode": 420}}, "project_commit": None,
           "installed_at": None, "backup_id": None, "target_git": None}
    r = parse_receipt(json.dumps(old).encode(), "old receipt")
    assert r.python is None and r.toggles is None
    assert json.loads(r.to_bytes())["python"] is None
