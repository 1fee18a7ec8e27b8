"""Fixtures of the fleet tests; the machinery lives in ``fleetkit.py``."""

from __future__ import annotations

from pathlib import Path

import fleetkit
import pytest


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Release 1.0.0: a snapshot of the project with its manifest."""
    return fleetkit.snapshot_project(tmp_path_factory.mktemp("release-1.0.0"), "1.0.0")


@pytest.fixture(scope="session")
def broken(release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Release 1.0.1: the same tree with a bash tool that raises on import, and its own manifest."""
    return fleetkit.broken_release(release, tmp_path_factory.mktemp("broken") / "project", "1.0.1")
