from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dc_deploy import api
from dc_deploy.context import Context
from dc_deploy.digest import tree_digest
from dc_deploy.errors import DeployError, ExitCode, IntegrityError, ManifestError, UnsafePathError, UsageError
from dc_deploy.manifest import check_relpath, default_manifest_path, load_manifest, version_key

REPO = Path(__file__).resolve().parents[2]


def test_built_manifest_shape(manifest: Path) -> None:
    m = load_manifest(manifest)
    assert m.version == "1.0.0"
    assert m.closure(["bash-tool"]) == ["core", "loop-hook", "bash-tool"]
    assert m.closure(["loop-hook"]) == ["core", "loop-hook"]
    assert m.components["loop-hook"].loop_block
    assert {f.destination for f in m.components["bash-tool"].files} >= {"dc_impl/tools/dc_bash.py"}
    assert all(f.destination.startswith("dc_impl/") for c in m.components.values() for f in c.files)
    assert m.toggle_defaults == dict.fromkeys(m.toggle_defaults, False)


def test_default_manifest_is_newest_by_version(tmp_path: Path) -> None:
    (tmp_path / "manifests").mkdir()
    for v in ("1.2.0", "1.10.0", "1.9.9"):
        (tmp_path / "manifests" / f"streaming-{v}.json").write_text("{}")
    assert default_manifest_path(tmp_path).name == "streaming-1.10.0.json"
    assert version_key("1.0.0-rc1") < version_key("1.0.0")


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../b", "./a", "a//b", ""])
def test_unsafe_relpaths(bad: str) -> None:
    with pytest.raises(UnsafePathError):
        check_relpath(bad, "destination")


def _tamper(manifest: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    doc = json.loads(manifest.read_text())
    edit(doc)
    out = tmp_path / "bad.json"
    out.write_text(json.dumps(doc))
    return out


def _first_file(doc: dict[str, Any], cid: str = "bash-tool") -> dict[str, Any]:
    return next(c for c in doc["components"] if c["id"] == cid)["files"][0]


CASES: list[tuple[str, Callable[[dict[str, Any]], None], type[DeployError], str]] = [
    ("schema-missing-version", lambda d: d.pop("version"), ManifestError, "'version' is a required property"),
    ("schema-bad-hash", lambda d: _first_file(d).update(sha256="xyz"), ManifestError, "schema violation"),
    ("traversal", lambda d: _first_file(d).update(destination="../escape.py"), UnsafePathError, "'..'"),
    ("absolute", lambda d: _first_file(d).update(destination="/tmp/evil.py"), UnsafePathError, "absolute"),
    ("source-traversal", lambda d: _first_file(d).update(source="../../etc/passwd"), UnsafePathError, "'..'"),
    ("missing-source", lambda d: _first_file(d).update(source="dc_impl/nope.py"), IntegrityError, "missing"),
    ("wrong-hash", lambda d: _first_file(d).update(sha256="0" * 64), IntegrityError, "refusing to deploy"),
    ("cycle", lambda d: d["components"][0]["depends_on"].append("bash-tool"), ManifestError, "cycle"),
    ("unknown-dep", lambda d: d["components"][0]["depends_on"].append("nope"), ManifestError, "unknown 'nope'"),
    ("reserved", lambda d: _first_file(d).update(destination="loop.py"), UnsafePathError, "installer itself"),
]


@pytest.mark.parametrize(("name", "edit", "exc_type", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_manifest_is_refused_and_target_untouched(
    name: str, edit: Callable[[dict[str, Any]], None], exc_type: type[DeployError], message: str,
    manifest: Path, tmp_path: Path, target: Path, ctx: Context, opts: api.Options,
) -> None:
    bad = _tamper(manifest, tmp_path, edit)
    before = tree_digest(target)
    with pytest.raises(exc_type, match=message) as info:
        api.integrate(dataclasses.replace(opts, manifest=bad), ctx, None, {})
    expected = ExitCode.INTEGRITY if exc_type is IntegrityError else ExitCode.USAGE
    assert info.value.exit_code == expected
    assert tree_digest(target) == before
    assert not (target / ".dc-streaming.lock").exists(), name
    assert not (opts.backup_dir).exists()


def test_malformed_json_names_line(tmp_path: Path, target: Path, ctx: Context, opts: api.Options) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": 1,\n  "name": }')
    before = tree_digest(target)
    with pytest.raises(ManifestError, match="not valid JSON.*line 2"):
        api.integrate(dataclasses.replace(opts, manifest=bad), ctx, None, {})
    assert tree_digest(target) == before


def test_destination_through_symlink_is_refused(target: Path, tmp_path: Path, ctx: Context, opts: api.Options) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (target / "dc_impl").symlink_to(outside)
    before = tree_digest(target)
    with pytest.raises(UnsafePathError, match="symlink"):
        api.integrate(opts, ctx, None, {})
    assert tree_digest(target) == before
    assert list(outside.iterdir()) == []


def test_build_rejects_bad_version(ctx: Context, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a version"):
        api.build_manifest(ctx, "banana", tmp_path / "m.json")
    assert not (tmp_path / "m.json").exists()
