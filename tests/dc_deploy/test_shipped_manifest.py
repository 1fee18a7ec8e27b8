from __future__ import annotations

from pathlib import Path

from dc_deploy.build import COMPONENT_SPECS, build_document
from dc_deploy.manifest import default_manifest_path, load_manifest, verify_sources

REPO = Path(__file__).resolve().parents[2]


def test_shipped_manifests_validate() -> None:
    shipped = sorted((REPO / "manifests").glob("streaming-*.json"))
    assert shipped, "manifests/streaming-*.json must be shipped"
    for path in shipped:
        m = load_manifest(path)
        assert {"core", "loop-hook", "bash-tool", "file-tool", "unified-streaming"} <= set(m.components)


def test_default_manifest_matches_the_sources_it_ships() -> None:
    """A stale release manifest makes every deploy exit 6: rebuild it when dc_impl changes
    (``./integrate_streaming.py --build-manifest --version X.Y.Z``)."""
    manifest = load_manifest(default_manifest_path(REPO))
    verify_sources(manifest, REPO, list(manifest.components))
    doc, unassigned = build_document(REPO, manifest.version, created_at="x", project_commit=None)
    assert unassigned == [], f"files under dc_impl/ no component ships: {unassigned}"
    built = {c["id"]: sorted(f["destination"] for f in c["files"]) for c in doc["components"]}
    shipped = {cid: sorted(f.destination for f in comp.files) for cid, comp in manifest.components.items()}
    assert built == shipped
    assert [s.id for s in COMPONENT_SPECS] == list(manifest.components)
