"""Fixtures of the reliability suites; the machinery itself lives in ``relkit.py``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import relkit


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """A snapshot of the installer with the three test manifests: ``(project root, {key: manifest})``."""
    root = tmp_path_factory.mktemp("rel-project")
    return root, relkit.build_project(root)


@pytest.fixture(scope="session")
def reference(project: tuple[Path, dict[str, Path]], tmp_path_factory: pytest.TempPathFactory
              ) -> Callable[[str, str], relkit.Reference]:
    """``reference(manifest_key, op)``: the clean run of that case (cached for the session)."""
    cache: dict[tuple[str, str], relkit.Reference] = {}
    root, manifests = project

    def get(key: str, op: str) -> relkit.Reference:
        if (key, op) not in cache:
            where = tmp_path_factory.mktemp(f"ref-{key}-{op}")
            cache[key, op] = relkit.reference_run(root, manifests, key, op, where)
        return cache[key, op]

    return get
