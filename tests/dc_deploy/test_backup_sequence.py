"""Backups are ordered by a per-backup-directory sequence number, never by the clock (issue 11, item 2)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import subprocess
import sys
from pathlib import Path

from dc_deploy import api
from dc_deploy.backups import IDENTITY, SEQ_FILE, BackupStore
from dc_deploy.context import Context
from dc_deploy.digest import tree_digest
from dc_deploy.journal import JOURNAL_NAME


def _ids(opts: api.Options, ctx: Context) -> list[str]:
    return [b["id"] for b in api.list_backups(opts, ctx).backups]


def make_legacy(root: Path) -> None:
    """Turn a backup into what 1.0.0 wrote: backup.json without a sequence, no identity.json."""
    meta = json.loads((root / "backup.json").read_text())
    meta.pop("sequence")
    (root / "backup.json").write_text(json.dumps(meta, indent=2) + "\n")
    (root / IDENTITY).unlink()


def test_clock_stepping_back_a_day_does_not_reorder(target: Path, ctx: Context, opts: api.Options) -> None:
    """bash tool, then file tool with the clock one day behind: the file tool is still the newest."""
    pristine = tree_digest(target)
    first = api.integrate(opts, ctx, ["bash-tool"], {"use_streaming_bash": True}).backup_id
    after_first = tree_digest(target)
    ctx.clock.now -= _dt.timedelta(days=1)  # type: ignore[attr-defined]
    second = api.integrate(opts, ctx, ["file-tool"], {"use_streaming_file": True}).backup_id
    assert second < first  # the id (a timestamp) sorts wrongly; the order must not
    listing = api.list_backups(opts, ctx).backups
    assert [b["id"] for b in listing] == [second, first]
    assert listing[0]["sequence"] > listing[1]["sequence"]
    res = api.restore(opts, ctx, "latest")
    assert res.restored_from == second
    assert tree_digest(target) == after_first  # the file tool's transaction undone, not the bash tool's
    assert not (target / "dc_impl" / "tools" / "dc_file.py").exists()
    # restoring the first backup undoes everything later: nothing mixed is left
    api.restore(opts, ctx, first)
    assert tree_digest(target) == pristine
    assert api.status(opts, ctx).as_dict()["installed"] is False
    assert not (target / "dc_impl" / "tools").exists()


def test_sequence_is_recorded_in_backup_json_and_identity(target: Path, ctx: Context, opts: api.Options) -> None:
    a = api.integrate(opts, ctx, ["bash-tool"], {}).backup_id
    b = api.set_toggles(opts, ctx, {"use_streaming_bash": True}).backup_id
    store = BackupStore(opts.backup_dir)
    seqs = [store.get(target, i).meta["sequence"] for i in (a, b)]
    assert seqs == [1, 2]
    for i, seq in zip((a, b), seqs, strict=True):
        ident = json.loads((opts.backup_dir / i / IDENTITY).read_text())
        assert ident == {"sequence": seq, "target": str(target), "created_at": "2026-11-28T12:00:00Z"}
    assert (opts.backup_dir / SEQ_FILE).read_text() == "2\n"


def test_missing_corrupt_or_stale_counter_never_reuses_a_number(target: Path, ctx: Context,
                                                                opts: api.Options) -> None:
    api.integrate(opts, ctx, ["bash-tool"], {})
    api.set_toggles(opts, ctx, {"use_streaming_bash": True})
    counter = opts.backup_dir / SEQ_FILE
    seen = []
    for n, damage in enumerate((lambda: counter.unlink(), lambda: counter.write_text("{garbage"),
                                lambda: counter.write_text("1\n"), lambda: counter.write_text(""))):
        damage()
        bid = api.set_toggles(opts, ctx, {"use_streaming_bash": n % 2 == 1}).backup_id
        seen.append(BackupStore(opts.backup_dir).get(target, bid).sequence)
    assert seen == [3, 4, 5, 6]
    # a counter ahead of the directory (backups pruned) is honoured: numbers never go back
    counter.write_text("40\n")
    bid = api.set_toggles(opts, ctx, {"use_streaming_bash": False}).backup_id
    assert BackupStore(opts.backup_dir).get(target, bid).sequence == 41


def test_journal_records_the_sequence(target: Path, snapshot: Path, manifest: Path, cli_env: dict[str, str],
                                      tmp_path: Path) -> None:
    """Killed right after the journal is written: the hot journal names the backup's sequence."""
    args = [sys.executable, str(snapshot / "integrate_streaming.py"), "--target", str(target), "--manifest", str(manifest),
            "--no-verify", "--no-progress"]
    subprocess.run([*args, "--integrate", "--bash-tool"], env=cli_env, check=True, capture_output=True)
    proc = subprocess.run([*args, "--integrate", "--file-tool"], env={**cli_env, "DC_FAILPOINT": "after_journal"},
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr  # the failpoint fired
    jr = json.loads((target / JOURNAL_NAME).read_text())
    backup = json.loads((Path(jr["backup_root"]) / "backup.json").read_text())
    assert jr["sequence"] == backup["sequence"] == 2
    status = subprocess.run([*args, "--status", "--json"], env=cli_env, capture_output=True, text=True)
    assert json.loads(status.stdout)["interrupted"]["sequence"] == 2


def test_backups_written_by_1_0_0_still_list_restore_and_prune(target: Path, ctx: Context,
                                                                opts: api.Options) -> None:
    """1.0.0 backups (no sequence) sort before every new one, even when their clock reads later."""
    pristine = tree_digest(target)
    old1 = api.integrate(opts, ctx, ["bash-tool"], {}).backup_id
    after_old1 = tree_digest(target)
    ctx.clock.tick()  # type: ignore[attr-defined]
    old2 = api.set_toggles(opts, ctx, {"use_streaming_bash": True}).backup_id
    for bid in (old1, old2):
        make_legacy(opts.backup_dir / bid)
    (opts.backup_dir / SEQ_FILE).unlink()
    ctx.clock.now -= _dt.timedelta(days=3)  # type: ignore[attr-defined]  # the upgrade runs with a clock behind
    new1 = api.integrate(opts, ctx, ["file-tool"], {"use_streaming_file": True}).backup_id
    ctx.clock.tick()  # type: ignore[attr-defined]
    new2 = api.set_toggles(opts, ctx, {"use_streaming_file": False}).backup_id
    listing = api.list_backups(opts, ctx).backups
    assert [b["id"] for b in listing] == [new2, new1, old2, old1]
    assert [b["sequence"] for b in listing] == [2, 1, None, None]
    # restoring a 1.0.0 backup undoes the new transactions after it too
    dry = api.restore(dataclasses.replace(opts, dry_run=True), ctx, old2).plan
    assert "dc_impl/tools/dc_file.py" in {a.path for a in dry.actions}
    api.restore(opts, ctx, old2)
    assert tree_digest(target) == after_old1
    assert not (target / "dc_impl" / "tools" / "dc_file.py").exists()
    api.restore(opts, ctx, old1)
    assert tree_digest(target) == pristine
    # pruning keeps the newest by sequence (the restores), never a 1.0.0 one over a new one
    ids_before = _ids(opts, ctx)
    res = api.prune(opts, ctx, 2).as_dict()
    assert res["kept"] == list(reversed(ids_before[:2]))
    assert set(res["deleted"]) == {old1, old2, new1, new2}


def test_backup_dir_lock_and_counter_are_not_backups(target: Path, ctx: Context, opts: api.Options) -> None:
    api.integrate(opts, ctx, ["bash-tool"], {})
    names = sorted(os.listdir(opts.backup_dir))
    assert ".dc-sequence" in names and ".dc-sequence.lock" in names
    assert len(BackupStore(opts.backup_dir).all()) == 1 and _ids(opts, ctx) == [n for n in names if
                                                                                 n.startswith("backup_")]


def test_recovery_removes_the_temp_file_of_an_interrupted_counter_update(target: Path, ctx: Context,
                                                                         opts: api.Options) -> None:
    api.integrate(opts, ctx, ["bash-tool"], {})
    stray = opts.backup_dir / f".{SEQ_FILE}.dc-tmp-4242-deadbeef"
    stray.write_text("7")
    bid = api.set_toggles(opts, ctx, {"use_streaming_bash": True}).backup_id
    assert not stray.exists()
    assert BackupStore(opts.backup_dir).get(target, bid).sequence == 2
