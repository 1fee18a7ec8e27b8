"""A wheel install has no ``manifests/`` next to its packages: the default manifest comes from
``<sys.prefix>/share/claude-dc-streaming/manifests`` (setup.cfg ``data_files``)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dc_deploy.errors import ManifestError
from dc_deploy.manifest import default_manifest_path, installed_manifests_dir


def test_wheel_install_finds_the_shipped_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    shared = installed_manifests_dir()
    assert shared == tmp_path / "venv" / "share" / "claude-dc-streaming" / "manifests"
    with pytest.raises(ManifestError) as err:
        default_manifest_path(site)
    assert str(shared) in str(err.value)
    shared.mkdir(parents=True)
    for v in ("1.0.0", "1.2.0"):
        (shared / f"streaming-{v}.json").write_text("{}")
    assert default_manifest_path(site) == shared / "streaming-1.2.0.json"


def test_a_checkout_prefers_its_own_manifests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    shared = installed_manifests_dir()
    shared.mkdir(parents=True)
    (shared / "streaming-9.0.0.json").write_text("{}")
    (tmp_path / "repo" / "manifests").mkdir(parents=True)
    (tmp_path / "repo" / "manifests" / "streaming-1.0.0.json").write_text("{}")
    assert default_manifest_path(tmp_path / "repo").name == "streaming-1.0.0.json"
