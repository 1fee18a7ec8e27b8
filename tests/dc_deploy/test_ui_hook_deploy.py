"""--update-ui through the installer: planned, backed up, recorded and drift-checked like loop.py."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dc_deploy import api, ui_block
from dc_deploy.backups import BackupStore
from dc_deploy.context import Context
from dc_deploy.digest import tree_digest
from dc_deploy.errors import DriftError, UsageError
from dc_deploy.fsutil import sha256_bytes

UI = "streamlit.py"


def test_update_ui_inserts_the_block_records_it_and_a_second_run_is_a_noop(target: Path, ctx: Context,
                                                                         opts: api.Options) -> None:
    original = (target / UI).read_bytes()
    res = api.integrate(opts, ctx, ["ui-hook"], {"use_unified_streaming": True})
    assert res.as_dict()["components"] == ["core", "loop-hook", "unified-streaming", "streamlit-ui", "ui-hook"]
    (action,) = [a for a in res.as_dict()["actions"] if a["path"] == UI]
    assert action["action"] == "update" and action["component"] == "ui-hook"
    assert action["detail"] == "insert the UI hook block"
    deployed = (target / UI).read_bytes()
    assert deployed == ui_block.add_block(original) and ui_block.remove_block(deployed) == original
    assert (target / "dc_impl" / "ui_hook.py").is_file() and (target / "dc_impl" / "streamlit_app.py").is_file()
    receipt = json.loads((target / "dc_impl" / "receipt.json").read_text())
    assert receipt["files"][UI]["sha256"] == sha256_bytes(deployed)
    paths = [a["path"] for a in res.as_dict()["actions"]]
    assert paths.index(UI) > paths.index("dc_impl/ui_hook.py"), "the hook is written after what it imports"
    again = api.integrate(opts, ctx, ["ui-hook"], {})
    assert again.as_dict()["actions"] == [] and again.as_dict()["backup_id"] is None
    assert api.status(opts, ctx).as_dict()["drift"] == []


def test_all_includes_the_ui_hook(target: Path, ctx: Context, opts: api.Options) -> None:
    res = api.integrate(opts, ctx, None, {})
    assert "ui-hook" in res.as_dict()["components"] and ui_block.has_block((target / UI).read_bytes())


def test_restoring_the_backup_gives_upstreams_file_back_byte_for_byte(target: Path, ctx: Context,
                                                                     opts: api.Options) -> None:
    (target / UI).chmod(0o640)
    before_tree = tree_digest(target)
    original = (target / UI).read_bytes()
    res = api.integrate(opts, ctx, None, {"use_unified_streaming": True})
    assert (target / UI).read_bytes() != original
    ctx.clock.tick()  # type: ignore[attr-defined]
    api.restore(opts, ctx, res.as_dict()["backup_id"])
    assert (target / UI).read_bytes() == original
    assert (target / UI).stat().st_mode & 0o777 == 0o640
    assert tree_digest(target) == before_tree


def test_dry_run_plans_the_ui_block_and_writes_nothing(target: Path, ctx: Context, opts: api.Options) -> None:
    before = tree_digest(target, exclude=())
    dry = api.integrate(dataclasses.replace(opts, dry_run=True), ctx, ["ui-hook"], {})
    assert tree_digest(target, exclude=()) == before
    real = api.integrate(opts, ctx, ["ui-hook"], {})
    assert dry.as_dict()["actions"] == real.as_dict()["actions"]


def test_block_edited_by_hand_is_drift_unless_overridden(target: Path, ctx: Context, opts: api.Options) -> None:
    api.integrate(opts, ctx, ["ui-hook"], {})
    path = target / UI
    edited = path.read_bytes().replace(b"_dc_ui_hook.serve()", b"pass  # hook disabled by hand")
    path.write_bytes(edited)
    (item,) = api.status(opts, ctx).as_dict()["drift"]
    assert item["path"] == UI and item["detail"] == "content changed"
    before = tree_digest(target)
    with pytest.raises(DriftError, match=UI) as info:
        api.integrate(opts, ctx, ["ui-hook"], {})
    assert info.value.exit_code == 5 and "--on-drift" in (info.value.hint or "")
    assert tree_digest(target) == before
    keep = api.integrate(dataclasses.replace(opts, on_drift="keep"), ctx, ["ui-hook"], {})
    assert keep.as_dict()["kept"] == [UI] and path.read_bytes() == edited
    ctx.clock.tick()  # type: ignore[attr-defined]
    api.integrate(dataclasses.replace(opts, on_drift="overwrite"), ctx, ["ui-hook"], {})
    assert path.read_bytes() == ui_block.add_block(edited) and b"_dc_ui_hook.serve()" in path.read_bytes()
    assert api.status(opts, ctx).as_dict()["drift"] == []


def test_block_removed_by_hand_is_drift(target: Path, ctx: Context, opts: api.Options) -> None:
    original = (target / UI).read_bytes()
    api.integrate(opts, ctx, ["ui-hook"], {})
    (target / UI).write_bytes(original)
    (item,) = api.status(opts, ctx).as_dict()["drift"]
    assert item["path"] == UI and item["detail"] == "the UI hook block is missing or damaged"
    with pytest.raises(DriftError):
        api.integrate(opts, ctx, ["ui-hook"], {})


def test_edit_outside_the_block_is_kept_and_recorded(target: Path, ctx: Context, opts: api.Options) -> None:
    api.integrate(opts, ctx, ["ui-hook"], {})
    path = target / UI
    edited = path.read_bytes() + b"\n# operator's note\n"
    path.write_bytes(edited)
    (item,) = api.status(opts, ctx).as_dict()["drift"]
    assert "outside the managed block" in item["detail"]
    res = api.integrate(opts, ctx, ["ui-hook"], {})
    assert [e["path"] for e in res.as_dict()["hand_edits"]] == [UI] and path.read_bytes() == edited
    assert api.status(opts, ctx).as_dict()["drift"] == []


def test_damaged_marker_is_drift_and_changes_nothing(target: Path, ctx: Context, opts: api.Options) -> None:
    api.integrate(opts, ctx, ["ui-hook"], {})
    path = target / UI
    path.write_bytes(path.read_bytes().replace(ui_block.END_TEXT + b"\n", b""))
    before = tree_digest(target)
    with pytest.raises(DriftError, match="end marker") as info:
        api.integrate(opts, ctx, ["ui-hook"], {})
    assert "marker lines" in (info.value.hint or "") and "--restore" in (info.value.hint or "")
    assert tree_digest(target) == before


@pytest.mark.parametrize("kind", ["missing", "symlink", "directory"])
def test_target_without_a_regular_streamlit_py_is_refused(target: Path, ctx: Context, opts: api.Options,
                                                          kind: str) -> None:
    path = target / UI
    real = path.read_bytes()
    path.unlink()
    if kind == "symlink":
        (target / "upstream_streamlit.py").write_bytes(real)
        path.symlink_to("upstream_streamlit.py")
    elif kind == "directory":
        path.mkdir()
    before = tree_digest(target, exclude=())
    with pytest.raises(UsageError) as info:
        api.integrate(opts, ctx, ["ui-hook"], {})
    assert info.value.exit_code == 2 and UI in str(info.value)
    assert tree_digest(target, exclude=()) == before
    api.integrate(opts, ctx, ["bash-tool"], {})  # without the UI hook the tree is fine


def test_cli_update_ui_flag(cli_env: dict[str, str], snapshot: Path, manifest: Path, target: Path) -> None:
    run = subprocess.run([sys.executable, str(snapshot / "integrate_streaming.py"), "--integrate", "--update-ui", "--no-verify",
                          "--json", "--target", str(target), "--manifest", str(manifest)],
                         env=cli_env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["selected"] == ["core", "loop-hook", "unified-streaming", "streamlit-ui", "ui-hook"]
    assert ui_block.has_block((target / UI).read_bytes())
    backups = BackupStore(Path(cli_env["DC_BACKUP_DIR"])).for_target(target.resolve())
    assert UI in backups[-1].files


def test_a_release_without_the_ui_hook_takes_the_block_out_again(target: Path, ctx: Context, opts: api.Options,
                                                                 snapshot: Path, tmp_path: Path) -> None:
    from dc_deploy.build import COMPONENT_SPECS, build_document

    original = (target / UI).read_bytes()
    api.integrate(opts, ctx, ["ui-hook"], {})
    doc, _ = build_document(snapshot, "1.0.1", created_at="2026-11-29T00:00:00Z", project_commit=None,
                            specs=tuple(s for s in COMPONENT_SPECS if s.id != "ui-hook"))
    older = tmp_path / "streaming-1.0.1.json"
    older.write_text(json.dumps(doc))
    ctx.clock.tick()  # type: ignore[attr-defined]
    res = api.integrate(dataclasses.replace(opts, manifest=older), ctx, [], {})
    actions = {a["path"]: a for a in res.as_dict()["actions"]}
    assert actions[UI]["detail"] == "remove the UI hook block" and actions["dc_impl/ui_hook.py"]["action"] == "delete"
    assert (target / UI).read_bytes() == original
    assert "ui-hook" not in res.as_dict()["components"] and api.status(opts, ctx).as_dict()["drift"] == []
