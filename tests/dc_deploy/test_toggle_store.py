from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from dc_deploy import api, toggle_store
from dc_deploy.context import Context
from dc_deploy.errors import NotInstalledError, TogglesInvalidError, UsageError


@pytest.mark.parametrize(("text", "value"), [("true", True), ("YES", True), ("On", True), ("1", True),
                                             ("false", False), ("no", False), ("OFF", False), ("0", False)])
def test_parse_bool(text: str, value: bool) -> None:
    assert toggle_store.parse_bool(text, "--enable-x") is value


def test_parse_bool_rejects_junk() -> None:
    with pytest.raises(UsageError, match="--enable-x='maybe' is not a boolean"):
        toggle_store.parse_bool("maybe", "--enable-x")


def _toggles(target: Path) -> dict[str, object]:
    return json.loads((target / "dc_impl" / "feature_toggles.json").read_text())


def test_flip_bumps_revision_keeps_mode_and_audits(target: Path, ctx: Context, opts: api.Options) -> None:
    api.integrate(opts, ctx, ["core"], {})
    path = target / "dc_impl" / "feature_toggles.json"
    assert _toggles(target)["revision"] == 0
    path.chmod(0o640)
    res = api.set_toggles(dataclasses.replace(opts, reason="phase 1"), ctx,
                          {"use_streaming_bash": True, "use_streaming_thinking": True})
    doc = _toggles(target)
    assert doc["revision"] == 1 and doc["use_streaming_bash"] is True and doc["use_streaming_thinking"] is True
    assert path.stat().st_mode & 0o777 == 0o640
    lines = (opts.backup_dir / toggle_store.AUDIT_FILE).read_text().splitlines()
    assert len(lines) == 1
    audit = json.loads(lines[0])
    assert audit["old"] == {"use_streaming_bash": False, "use_streaming_thinking": False}
    assert audit["new"] == {"use_streaming_bash": True, "use_streaming_thinking": True}
    assert (audit["user"], audit["host"], audit["reason"]) == ("tester", "testhost", "phase 1")
    assert audit["backup_id"] == res.backup_id and audit["result"] == "committed"
    # the same flip again changes nothing: no write, no revision bump, no backup
    again = api.set_toggles(opts, ctx, {"use_streaming_bash": True})
    assert again.backup_id is None and _toggles(target)["revision"] == 1


def test_invalid_toggles_file_is_refused_untouched(target: Path, ctx: Context, opts: api.Options) -> None:
    api.integrate(opts, ctx, ["core"], {})
    path = target / "dc_impl" / "feature_toggles.json"
    for junk in (b'{"revision": 0, "use_streaming_bash": "yes"}', b"{not json"):
        path.write_bytes(junk)
        with pytest.raises(TogglesInvalidError, match="left untouched") as info:
            api.set_toggles(opts, ctx, {"use_streaming_bash": True})
        assert info.value.exit_code == 2
        assert path.read_bytes() == junk
        with pytest.raises(TogglesInvalidError):
            api.integrate(opts, ctx, ["bash-tool"], {})
        assert path.read_bytes() == junk


def test_flip_before_deploy_is_refused(target: Path, ctx: Context, opts: api.Options) -> None:
    with pytest.raises(NotInstalledError, match="nothing is deployed") as info:
        api.set_toggles(opts, ctx, {"use_streaming_bash": True})
    assert "--integrate" in (info.value.hint or "")
    assert not (target / ".dc-streaming.lock").exists()


def test_flip_in_a_tree_we_never_deployed_is_refused(tmp_path: Path, ctx: Context, opts: api.Options) -> None:
    """A source checkout ships dc_impl/feature_toggles.json too: --target pointing there must not flip it."""
    checkout = tmp_path / "checkout"
    (checkout / "dc_impl").mkdir(parents=True)
    shipped = b'{"revision": 0, "use_streaming_bash": false, "use_streaming_file": false, ' \
              b'"use_streaming_screenshot": false, "use_unified_streaming": false, "use_streaming_thinking": false}'
    (checkout / "dc_impl" / "feature_toggles.json").write_bytes(shipped)
    with pytest.raises(NotInstalledError, match="not a tree this tool deployed"):
        api.set_toggles(dataclasses.replace(opts, target=checkout), ctx, {"use_streaming_bash": True})
    assert (checkout / "dc_impl" / "feature_toggles.json").read_bytes() == shipped
    assert not (checkout / ".dc-streaming.lock").exists()


def test_failed_verification_of_a_flip_restores_old_toggles(target: Path, ctx: Context, opts: api.Options) -> None:
    api.integrate(opts, ctx, ["core"], {})
    before = (target / "dc_impl" / "feature_toggles.json").read_bytes()
    ctx.environ = {**ctx.environ, "DC_VERIFY_COMMAND": "sh -c 'echo {\"passed\": false, \"checks\": []}; exit 1'"}  # type: ignore[misc]
    with pytest.raises(Exception, match="verification failed"):
        api.set_toggles(dataclasses.replace(opts, verify=True), ctx, {"use_streaming_bash": True})
    assert (target / "dc_impl" / "feature_toggles.json").read_bytes() == before
    last = json.loads((opts.backup_dir / toggle_store.AUDIT_FILE).read_text().splitlines()[-1])
    assert last["result"] == "rolled_back"
