"""Fixtures for the installer tests: a snapshot of the project's sources, a fresh manifest, a target.

Other helpers edit dc_impl/ while these tests run, so each session deploys from a *snapshot* of
the current sources (copied once) with a manifest built from that snapshot; the CLI is pointed at
it with DC_PROJECT_ROOT. Targets are copies of examples/computer_use_demo.
"""

from __future__ import annotations

import datetime as _dt
import io
import os
import shutil
import sys
from pathlib import Path

import pytest
from rich.console import Console

from dc_deploy import api
from dc_deploy.build import build_manifest
from dc_deploy.context import Context

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "computer_use_demo"
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")


@pytest.fixture(scope="session")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the installer and the runtime sources: a self-contained project root."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO / "dc_impl", root / "dc_impl", ignore=IGNORE)
    shutil.copytree(REPO / "dc_deploy", root / "dc_deploy", ignore=IGNORE)
    shutil.copy2(REPO / "integrate_streaming.py", root / "integrate_streaming.py")
    return root


@pytest.fixture(scope="session")
def manifest(snapshot: Path) -> Path:
    out = snapshot / "manifests" / "streaming-1.0.0.json"
    build_manifest(snapshot, "1.0.0", out, created_at="2026-11-28T00:00:00Z", project_commit=None)
    return out


def make_target(parent: Path) -> Path:
    target = parent / "computer_use_demo"
    if EXAMPLE.is_dir():
        shutil.copytree(EXAMPLE, target, ignore=IGNORE)
    else:
        (target / "tools").mkdir(parents=True)
        (target / "__init__.py").write_text("")
        (target / "tools" / "__init__.py").write_text("")
        (target / "loop.py").write_text("def sampling_loop(**kwargs):\n    return []\n")
    return target


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return make_target(tmp_path)


class FakeClock:
    """Frozen unless advanced: many backups in the same second exercise the id suffixes."""

    def __init__(self) -> None:
        self.now = _dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=_dt.UTC)

    def __call__(self) -> _dt.datetime:
        return self.now

    def tick(self, seconds: float = 1) -> None:
        self.now += _dt.timedelta(seconds=seconds)


@pytest.fixture
def ctx(snapshot: Path) -> Context:
    return Context(err=Console(file=io.StringIO()), clock=FakeClock(), environ=dict(os.environ), user="tester",
                   host="testhost", project_root=snapshot, command="pytest", progress=False)


@pytest.fixture
def opts(target: Path, tmp_path: Path, manifest: Path) -> api.Options:
    return api.Options(target=target, backup_dir=tmp_path / "backups", manifest=manifest, verify=False,
                       lock_timeout=5)


@pytest.fixture
def cli_env(snapshot: Path, manifest: Path, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DC_")}
    env.update({"DC_PROJECT_ROOT": str(snapshot), "DC_BACKUP_DIR": str(tmp_path / "backups"),
                "PYTHONDONTWRITEBYTECODE": "1"})
    return env


PYTHON = sys.executable
