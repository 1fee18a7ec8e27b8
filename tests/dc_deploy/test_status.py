from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dc_deploy import api
from dc_deploy.context import Context
from dc_deploy.digest import tree_digest
from dc_deploy.errors import DeployError, DriftError


def test_status_before_and_after_deploy_is_read_only(target: Path, ctx: Context, opts: api.Options) -> None:
    before = tree_digest(target, exclude=())
    s = api.status(opts, ctx).as_dict()
    assert s["installed"] is False and s["last_backup"] is None and s["interrupted"] is None
    assert tree_digest(target, exclude=()) == before  # no lock file either
    api.integrate(opts, ctx, ["bash-tool"], {"use_streaming_bash": True})
    s = api.status(opts, ctx).as_dict()
    assert s["installed"] and s["version"] == "1.0.0"
    assert s["components"] == ["core", "loop-hook", "bash-tool"]
    assert s["toggles"]["use_streaming_bash"] is True and s["toggles"]["revision"] == 1
    assert s["drift"] == [] and s["last_backup"]["status"] == "COMMITTED"


def test_drift_is_reported_and_refused(target: Path, ctx: Context, opts: api.Options) -> None:
    api.integrate(opts, ctx, ["bash-tool"], {})
    edited = target / "dc_impl" / "tools" / "dc_bash.py"
    edited.write_text(edited.read_text() + "\n# hotfix by hand\n")
    (target / "dc_impl" / "hook.py").unlink()
    drift = {d["path"]: d for d in api.status(opts, ctx).as_dict()["drift"]}
    assert set(drift) == {"dc_impl/tools/dc_bash.py", "dc_impl/hook.py"}
    assert drift["dc_impl/hook.py"]["detail"] == "missing"
    before = tree_digest(target)
    with pytest.raises(DriftError, match="dc_impl/tools/dc_bash.py") as info:
        api.integrate(opts, ctx, ["bash-tool"], {})
    assert info.value.exit_code == 5 and "--on-drift" in (info.value.hint or "")
    assert tree_digest(target) == before


def test_on_drift_keep_and_overwrite(target: Path, ctx: Context, opts: api.Options) -> None:
    api.integrate(opts, ctx, ["bash-tool"], {})
    edited = target / "dc_impl" / "tools" / "dc_bash.py"
    local = edited.read_bytes() + b"\n# local change\n"
    edited.write_bytes(local)
    keep = api.integrate(dataclasses.replace(opts, on_drift="keep"), ctx, ["bash-tool", "file-tool"], {})
    assert keep.as_dict()["kept"] == ["dc_impl/tools/dc_bash.py"]
    assert edited.read_bytes() == local
    assert [d["path"] for d in api.status(opts, ctx).as_dict()["drift"]] == ["dc_impl/tools/dc_bash.py"]
    ctx.clock.tick()  # type: ignore[attr-defined]
    over = api.integrate(dataclasses.replace(opts, on_drift="overwrite"), ctx, [], {})
    assert [a["path"] for a in over.as_dict()["actions"]][0] == "dc_impl/tools/dc_bash.py"
    assert edited.read_bytes() != local
    assert api.status(opts, ctx).as_dict()["drift"] == []
    api.restore(opts, ctx, over.backup_id)  # the overwritten local change comes back
    assert edited.read_bytes() == local


def test_loop_block_removed_by_hand_is_drift(target: Path, ctx: Context, opts: api.Options) -> None:
    original = (target / "loop.py").read_bytes()
    api.integrate(opts, ctx, ["loop-hook"], {})
    (target / "loop.py").write_bytes(original)
    (item,) = api.status(opts, ctx).as_dict()["drift"]
    assert item["path"] == "loop.py" and "block" in item["detail"]
    with pytest.raises(DriftError):
        api.integrate(opts, ctx, ["loop-hook"], {})
    api.integrate(dataclasses.replace(opts, on_drift="overwrite"), ctx, ["loop-hook"], {})
    assert (target / "loop.py").read_bytes().startswith(original + b"\n# >>> claude-dc-streaming")


def test_symlinked_lock_file_is_refused(target: Path, ctx: Context, opts: api.Options, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("do not touch")
    (target / ".dc-streaming.lock").symlink_to(victim)
    with pytest.raises(DeployError, match="is a symlink") as info:
        api.integrate(opts, ctx, ["core"], {})
    assert info.value.exit_code == 1
    assert victim.read_text() == "do not touch"
    assert not (target / "dc_impl").exists()
