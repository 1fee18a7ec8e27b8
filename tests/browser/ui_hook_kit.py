"""Deploy the stand-in ``computer_use_demo`` with ``--update-ui`` through the real installer CLI.

Shared by the UI hook tests (AppTest and Chromium). The manifest is built once from this checkout
into a temporary file; each tree is a fresh copy of the stand-in (``upstream_shape=True``: reshaped
to upstream's real ``streamlit.py`` layout, a docstring followed directly by the imports, no
``from __future__`` line), deployed with ``--integrate --update-ui`` exactly as an operator would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STAND_IN = REPO / "examples" / "computer_use_demo"
INSTALLER = REPO / "integrate_streaming.py"
FUTURE_LINE = b"from __future__ import annotations\n\n"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")


def upstream_shaped(standin: bytes) -> bytes:
    """The stand-in laid out as upstream's real file is: docstring, then the imports (no __future__ line)."""
    assert standin.count(FUTURE_LINE) == 1
    return standin.replace(FUTURE_LINE, b"")


def installer_env(backups: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DC_")}
    env.update(DC_BACKUP_DIR=str(backups), PYTHONDONTWRITEBYTECODE="1")
    return env


def installer(manifest: Path, target: Path, *args: str) -> dict[str, object]:
    """Run ``integrate_streaming.py ARGS --target T --json`` (no verification); the JSON document."""
    cmd = [sys.executable, str(INSTALLER), *args, "--target", str(target), "--manifest", str(manifest),
           "--no-verify", "--json"]
    run = subprocess.run(cmd, env=installer_env(target.parent / "backups"), capture_output=True, text=True,
                         timeout=180)
    assert run.returncode == 0, f"{' '.join(args)} exited {run.returncode}: {run.stderr[-2000:]}"
    return json.loads(run.stdout)


def build_manifest(out: Path) -> Path:
    path = out / "streaming-ui-test.json"
    run = subprocess.run([sys.executable, str(INSTALLER), "--build-manifest", "--version", "1.1.0",
                          "--output", str(path), "--json"], env=installer_env(out / "unused"),
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    return path


def stage(work: Path, *, upstream_shape: bool = False) -> Path:
    """``work/computer_use_demo``: a copy of the stand-in, not yet deployed to; returns the package dir."""
    target = work / "computer_use_demo"
    shutil.copytree(STAND_IN, target, ignore=_IGNORE)
    if upstream_shape:
        page = target / "streamlit.py"
        page.write_bytes(upstream_shaped(page.read_bytes()))
    return target


def deploy(manifest: Path, work: Path, *, upstream_shape: bool = False, streaming: bool = True) -> Path:
    """Stage and deploy with ``--integrate --update-ui --enable-unified-streaming=...``; returns the package dir."""
    return deploy_with_backup(manifest, work, upstream_shape=upstream_shape, streaming=streaming)[0]


def deploy_with_backup(manifest: Path, work: Path, *, upstream_shape: bool = False,
                       streaming: bool = True) -> tuple[Path, str]:
    """``deploy``, also returning the id of the backup taken before ``--update-ui`` changed anything."""
    target = stage(work, upstream_shape=upstream_shape)
    doc = installer(manifest, target, "--integrate", "--update-ui",
                    f"--enable-unified-streaming={'true' if streaming else 'false'}")
    return target, str(doc["backup_id"])
