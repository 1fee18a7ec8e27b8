from __future__ import annotations

from pathlib import Path

from dc_deploy.manifest import load_manifest

REPO = Path(__file__).resolve().parents[2]


def test_shipped_manifests_validate() -> None:
    shipped = sorted((REPO / "manifests").glob("streaming-*.json"))
    assert shipped, "manifests/streaming-*.json must be shipped"
    for path in shipped:
        m = load_manifest(path)
        assert set(m.components) == {"core", "loop-hook", "bash-tool", "file-tool", "unified-streaming"}
