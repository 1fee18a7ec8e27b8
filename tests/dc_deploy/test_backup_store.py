from __future__ import annotations

import dataclasses
from pathlib import Path

from dc_deploy import api
from dc_deploy.backups import BackupStore
from dc_deploy.context import Context
from dc_deploy.errors import VerificationFailedError


def _flip(opts: api.Options, ctx: Context, value: bool, **kw: object) -> str | None:
    ctx.clock.tick()  # type: ignore[attr-defined]
    return api.set_toggles(dataclasses.replace(opts, **kw), ctx, {"use_streaming_bash": value}).backup_id


def test_list_backups_fields_and_order(target: Path, ctx: Context, opts: api.Options) -> None:
    first = api.integrate(dataclasses.replace(opts, reason="initial"), ctx, ["bash-tool"], {}).backup_id
    second = _flip(opts, ctx, True, reason="phase 1")
    listing = api.list_backups(opts, ctx).backups
    assert [b["id"] for b in listing] == [second, first]  # newest first
    b = listing[1]
    for key in ("id", "created_at", "status", "manifest_version", "components", "files", "bytes", "reason"):
        assert key in b
    assert (b["status"], b["manifest_version"], b["reason"]) == ("COMMITTED", "1.0.0", "initial")
    assert b["components"] == ["core", "loop-hook", "bash-tool"]
    assert b["files"] == len(b["paths"]) > 5 and b["bytes"] > 0  # loop.py is the one file that existed
    meta = BackupStore(opts.backup_dir).get(target, first).meta
    assert meta["files"]["dc_impl/tools/dc_bash.py"] == {"type": "absent"}
    assert meta["files"]["loop.py"]["type"] == "file" and "mode" in meta["files"]["loop.py"]
    assert (meta["user"], meta["host"], meta["target"]) == ("tester", "testhost", str(target))
    assert meta["manifest_versions"] == {"before": None, "after": "1.0.0"}


def test_prune_never_deletes_newest_committed(target: Path, ctx: Context, opts: api.Options) -> None:
    api.integrate(opts, ctx, ["core"], {})
    good = _flip(opts, ctx, True)
    ctx.environ = {**ctx.environ, "DC_VERIFY_COMMAND": "false"}  # type: ignore[misc]
    for value in (False, False, False):
        ctx.clock.tick()
        try:
            api.set_toggles(dataclasses.replace(opts, verify=True), ctx, {"use_streaming_bash": value})
        except VerificationFailedError:
            pass
    statuses = [b["status"] for b in api.list_backups(opts, ctx).backups]
    assert statuses == ["FAILED", "FAILED", "FAILED", "COMMITTED", "COMMITTED"]
    dry = api.prune(dataclasses.replace(opts, dry_run=True), ctx, 1).as_dict()
    assert len(dry["deleted"]) == 3 and len(BackupStore(opts.backup_dir).all()) == 5
    res = api.prune(opts, ctx, 1).as_dict()
    remaining = [b["id"] for b in api.list_backups(opts, ctx).backups]
    assert good in remaining and len(remaining) == 2 and res["deleted"] == dry["deleted"]
    api.prune(opts, ctx, 0)
    assert [b["id"] for b in api.list_backups(opts, ctx).backups] == [good]


def test_restore_latest_is_itself_undoable(target: Path, ctx: Context, opts: api.Options) -> None:
    api.integrate(opts, ctx, ["core"], {})
    _flip(opts, ctx, True)
    ctx.clock.tick()  # type: ignore[attr-defined]
    res = api.restore(opts, ctx, "latest")
    assert api.status(opts, ctx).as_dict()["toggles"]["use_streaming_bash"] is False
    meta = BackupStore(opts.backup_dir).get(target, res.backup_id).meta
    assert meta["operation"] == "restore" and meta["restored_from"] == res.restored_from
    ctx.clock.tick()  # type: ignore[attr-defined]
    api.restore(opts, ctx, res.backup_id)
    assert api.status(opts, ctx).as_dict()["toggles"]["use_streaming_bash"] is True


def test_progress_bar_for_large_backups(target: Path, ctx: Context, opts: api.Options) -> None:
    import io

    from rich.console import Console

    buf = io.StringIO()
    ctx.err = Console(file=buf, force_terminal=True, width=100)
    ctx.progress = True
    big = (target / "loop.py").read_bytes() + b"#" * (2 << 20) + b"\n"
    (target / "loop.py").write_bytes(big)
    res = api.integrate(opts, ctx, ["loop-hook"], {})
    assert "backing up" in buf.getvalue()
    api.restore(opts, ctx, res.backup_id)
    assert "restoring" in buf.getvalue()
    assert (target / "loop.py").read_bytes() == big


def test_recovery_removes_the_temp_file_of_an_interrupted_status_update(target: Path, ctx: Context,
                                                                        opts: api.Options) -> None:
    """A kill while backup.json is being rewritten (e.g. marked COMMITTED) leaves its temp file; the
    next command that takes the lock removes it, whatever the backup's status (found by random kills)."""
    res = api.integrate(opts, ctx, ["bash-tool"], {})
    root = Path(BackupStore(opts.backup_dir).get(target, res.backup_id).root)
    stray = root / ".backup.json.dc-tmp-4242-deadbeef"
    stray.write_text("{half")
    ctx.clock.tick()
    api.set_toggles(opts, ctx, {"use_streaming_bash": True})
    assert not stray.exists()
    assert (root / "backup.json").is_file()
