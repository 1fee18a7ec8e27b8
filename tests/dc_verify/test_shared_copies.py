"""Copies kept on purpose, because dc_verify never imports dc_deploy (the layers of docs/architecture.md):
each pair must agree, checked here on real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dc_deploy import fsutil
from dc_verify.checks import deployment


@pytest.mark.parametrize("size", [0, 1, 4096, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 17])
def test_sha256_file_is_the_same_in_the_installer_and_the_verifier(tmp_path: Path, size: int) -> None:
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(size))
    assert deployment.sha256_file(path) == fsutil.sha256_file(path) == fsutil.sha256_bytes(path.read_bytes())
