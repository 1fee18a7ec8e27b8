"""Restoring an earlier backup undoes every later kept transaction too: the tree returns to the
state it had before that backup's transaction, byte for byte, not a mix of old and new."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from dc_deploy import api
from dc_deploy.digest import tree_digest


def _phases(opts: api.Options, ctx) -> tuple[list[dict], list[str]]:
    """Bash tool, then file tool, then unified streaming; the digest before each and its backup id."""
    digests, ids = [tree_digest(opts.target)], []
    for comp, flip in (("bash-tool", "use_streaming_bash"), ("file-tool", "use_streaming_file"),
                       ("unified-streaming", "use_unified_streaming")):
        ctx.clock.tick()
        res = api.integrate(opts, ctx, [comp], {flip: True})
        ids.append(res.backup_id)
        digests.append(tree_digest(opts.target))
    return digests, ids


@pytest.mark.parametrize("phase", [0, 1, 2])
def test_restore_of_an_earlier_backup_returns_to_the_state_before_it(opts, ctx, phase: int) -> None:
    digests, ids = _phases(opts, ctx)
    ctx.clock.tick()
    res = api.restore(opts, ctx, ids[phase])
    assert res.restored_from == ids[phase]
    assert tree_digest(opts.target) == digests[phase]
    # the restore is itself undoable: back to the fully deployed tree
    ctx.clock.tick()
    api.restore(opts, ctx, res.backup_id)
    assert tree_digest(opts.target) == digests[-1]


def test_failed_transactions_in_between_are_skipped(opts, ctx, tmp_path: Path) -> None:
    digests, ids = _phases(opts, ctx)
    failing = replace(opts, verify=True)
    env = dict(ctx.environ, DC_VERIFY_COMMAND="false")
    ctx.clock.tick()
    with pytest.raises(api.DeployError) as err:
        api.integrate(failing, replace(ctx, environ=env), [], {"use_streaming_bash": False})
    assert err.value.exit_code == 3 and tree_digest(opts.target) == digests[-1]
    ctx.clock.tick()
    api.restore(opts, ctx, ids[1])
    assert tree_digest(opts.target) == digests[1]


def test_dry_run_of_a_chained_restore_lists_every_path_and_writes_nothing(opts, ctx) -> None:
    digests, ids = _phases(opts, ctx)
    before = tree_digest(opts.target, exclude=())
    plan = api.restore(replace(opts, dry_run=True), ctx, ids[1]).plan
    assert tree_digest(opts.target, exclude=()) == before
    deleted = {a.path for a in plan.actions if a.action == "delete"}
    assert "dc_impl/tools/dc_file.py" in deleted and "dc_impl/unified_streaming_loop.py" in deleted
