"""Each check passes on a good deployment and fails on a deliberately broken one.

Deployments are copies of examples/computer_use_demo with the project's dc_impl, the managed hook
block, toggles and a receipt (``dc_verify.demo.sandbox``); breakages are real code changes in the
deployed copy (a bash tool that buffers, loops that drop thinking or start tools after message_stop,
corrupted files). Everything runs through ``verify()``, i.e. in real child interpreters.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from dc_verify.checks import CHECKS
from dc_verify.checks.xdisplay import missing_parts
from dc_verify.demo.sandbox import ALL_ON, apply_breakage, make_deployment, write_receipt, write_toggles
from dc_verify.runner import VerifyOptions, verify

ROOT = Path(__file__).resolve().parents[2]


def run_checks(target: Path, *names: str, **kw: object) -> dict[str, tuple[str, str]]:
    suite = verify(VerifyOptions(target=target, checks=names, **kw))  # type: ignore[arg-type]
    return {c.name: (c.status, c.detail) for c in suite.checks}


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_deployment(tmp_path_factory.mktemp("good"), ROOT)


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    return make_deployment(tmp_path, ROOT)


def test_every_check_passes_on_a_good_deployment_within_budget(good: Path) -> None:
    t0 = time.monotonic()
    suite = verify(VerifyOptions(target=good))
    took = time.monotonic() - t0
    statuses = {c.name: (c.status, c.detail) for c in suite.checks}
    assert list(statuses) == list(CHECKS)
    no_x = missing_parts()  # the screenshot checks skip, with this reason, where no X can be started
    failed = {n: d for n, (s, d) in statuses.items()
              if s != "pass" and n not in ("live", "ui_hook")
              and not (no_x and n.startswith("screenshot_") and s == "skip")}
    assert not failed, failed
    assert statuses["live"][0] == "skip"
    # the sandbox does not install the UI hook (tests/dc_verify/test_ui_hook_check.py deploys it with the installer)
    assert statuses["ui_hook"] == ("skip", "component ui-hook is not installed (per receipt)")
    assert suite.passed
    assert took < 30, f"suite took {took:.1f} s"  # issue goal is < 10 s on an idle machine; margin for CI load


def test_project_own_dc_impl_without_target_runs_every_component() -> None:
    suite = verify(VerifyOptions(target=None, checks=("toggles", "file_roundtrip", "bash_exit_code")))
    assert {c.name: c.status for c in suite.checks} == {
        "toggles": "pass", "file_roundtrip": "pass", "bash_exit_code": "pass"}


BEHAVIOUR_BREAKAGES = ("bash-buffers", "bash-hides-exit-code", "bash-timeout-leaks", "file-view-unbounded",
                       "loop-after-stop", "loop-drops-thinking", "loop-results-reversed", "loop-no-retry")


@pytest.fixture(scope="module")
def broken_behaviour(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """One deployment carrying every behavioural defect (each breaks a different promise), verified once."""
    target = make_deployment(tmp_path_factory.mktemp("broken"), ROOT)
    for name in BEHAVIOUR_BREAKAGES:
        apply_breakage(target, name)
    components = json.loads((target / "dc_impl" / "receipt.json").read_text())["components"]
    write_receipt(target, components)  # re-recorded: only the behaviour is wrong, not the files
    return run_checks(target)


def test_broken_behaviour_deployment_still_matches_its_receipt_and_imports(
        broken_behaviour: dict[str, tuple[str, str]]) -> None:
    assert broken_behaviour["receipt"][0] == "pass"
    assert broken_behaviour["imports"][0] == "pass"
    assert broken_behaviour["toggles"][0] == "pass"


def test_bash_tool_that_buffers_until_the_end_fails_streaming(broken_behaviour: dict[str, tuple[str, str]]) -> None:
    status, detail = broken_behaviour["bash_streaming"]
    assert status == "fail" and "not streamed" in detail


def test_loop_that_runs_tools_after_message_stop_fails(broken_behaviour: dict[str, tuple[str, str]]) -> None:
    status, detail = broken_behaviour["loop_tool_midstream"]
    assert status == "fail" and "AFTER message_stop" in detail


def test_loop_that_drops_thinking_blocks_fails(broken_behaviour: dict[str, tuple[str, str]]) -> None:
    status, detail = broken_behaviour["loop_thinking"]
    assert status == "fail" and "thinking" in detail
    status, detail = broken_behaviour["loop_validation"]
    assert status == "fail" and "violation" in detail  # the scripted server rejected the altered history


def test_every_other_behaviour_check_fails_on_its_breakage(broken_behaviour: dict[str, tuple[str, str]]) -> None:
    res = broken_behaviour
    assert res["bash_exit_code"][0] == "fail" and "not reported" in res["bash_exit_code"][1]
    assert res["bash_timeout"][0] == "fail" and "still run" in res["bash_timeout"][1]
    assert res["file_large_view"][0] == "fail" and "characters" in res["file_large_view"][1]
    assert res["loop_two_tools"][0] == "fail" and "expected" in res["loop_two_tools"][1]
    assert res["loop_overloaded"][0] == "fail" and "exactly once" in res["loop_overloaded"][1]


def test_damaged_deployment_fails_receipt_imports_and_hooked_loop(fresh: Path) -> None:
    victim = fresh / "dc_impl" / "tools" / "dc_file.py"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x5A  # one flipped byte in the middle of the module
    victim.write_bytes(bytes(data) + b"\n)\n")  # and a syntax error, so importing it must fail
    enh = fresh / "dc_impl" / "streaming_enhancements.py"  # absolute import: works in the repo, not in production
    enh.write_text(enh.read_text() + "\nimport dc_impl.toggles\n")
    loop = fresh / "loop.py"
    text = loop.read_text()
    loop.write_text(text[: text.index("# >>> claude-dc-streaming loop hook")])
    mode_victim = fresh / "dc_impl" / "toggles.py"
    os.chmod(mode_victim, stat.S_IMODE(mode_victim.stat().st_mode) ^ 0o100)
    (fresh / "dc_impl" / "chat.py").unlink()
    res = run_checks(fresh, "receipt", "imports", "file_roundtrip", "loop_text")
    status, detail = res["receipt"]
    assert status == "fail"
    for needle in ("dc_impl/tools/dc_file.py: content changed", "dc_impl/streaming_enhancements.py: content "
                   "changed", "loop.py: content changed", "dc_impl/toggles.py: mode", "dc_impl/chat.py: missing"):
        assert needle in detail
    status, detail = res["imports"]
    assert status == "fail"
    assert "dc_impl.tools.dc_file: SyntaxError" in detail
    assert "must not import the project's packages" in detail
    assert "No module named 'computer_use_demo.dc_impl.chat'" in detail
    assert "DC_STREAMING_HOOK" in detail
    assert res["file_roundtrip"][0] == "fail"
    assert res["loop_text"][0] == "fail" and "DC_STREAMING_HOOK" in res["loop_text"][1]


def test_invalid_toggles_file_fails_toggles(fresh: Path) -> None:
    path = fresh / "dc_impl" / "feature_toggles.json"
    doc = json.loads(path.read_text())
    doc["use_streaming_bash"] = "yes"
    path.write_text(json.dumps(doc))
    status, detail = run_checks(fresh, "toggles")["toggles"]
    assert status == "fail" and "use_streaming_bash" in detail


def test_toggle_off_and_component_missing_skip_with_reason(tmp_path: Path) -> None:
    target = make_deployment(tmp_path, ROOT, components=("core", "loop-hook", "unified-streaming", "file-tool"),
                             toggles={**ALL_ON, "use_unified_streaming": False})
    res = run_checks(target, "file_roundtrip", "loop_text", "bash_exit_code")
    assert res["bash_exit_code"] == ("skip", "component bash-tool is not installed (per receipt)")
    assert res["loop_text"] == ("skip", "toggle use_unified_streaming is off")
    assert res["file_roundtrip"][0] == "pass"
    write_toggles(target, {**ALL_ON, "use_unified_streaming": True}, revision=7)
    assert run_checks(target, "loop_text")["loop_text"][0] == "pass"


def test_hung_child_is_killed_as_a_group_and_reported(fresh: Path, tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    fake = tmp_path / "fake-python"
    fake.write_text(f"#!/bin/sh\nsleep 60 & echo $! >> {pidfile}\necho $$ >> {pidfile}\nexec sleep 60\n")
    fake.chmod(0o755)
    t0 = time.monotonic()
    suite = verify(VerifyOptions(target=fresh, checks=("toggles", "bash_exit_code"), timeout_s=1.0,
                                 python=str(fake)))
    assert time.monotonic() - t0 < 15
    by = {c.name: c for c in suite.checks}
    assert not suite.passed
    assert by["toggles"].status == "fail" and "killed after 1 s" in by["toggles"].detail
    assert by["bash_exit_code"].status == "fail"
    pids = [int(p) for p in pidfile.read_text().split()]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    assert not [p for p in pids if _alive(p)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_child_crash_is_reported_not_raised(fresh: Path, tmp_path: Path) -> None:
    fake = tmp_path / "crashing-python"
    fake.write_text("#!/bin/sh\necho 'boom: interpreter exploded' >&2\nexit 9\n")
    fake.chmod(0o755)
    suite = verify(VerifyOptions(target=fresh, checks=("toggles",), python=str(fake)))
    (check,) = suite.checks
    assert check.status == "fail" and "exited with code 9" in check.detail and "boom" in check.detail


def test_sys_executable_is_used_by_default() -> None:
    assert VerifyOptions().python == sys.executable


LOCK_SIDECAR = ".dc-streaming.lock"  # the installer's lock file: holder info, never part of a deployment


def _tree(root: Path) -> dict[str, tuple[int, bytes]]:
    return {p.relative_to(root).as_posix(): (stat.S_IMODE(p.stat().st_mode), p.read_bytes())
            for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and p.name != LOCK_SIDECAR}


def test_failed_verification_after_integrate_restores_the_tree_byte_for_byte(tmp_path: Path) -> None:
    """The installer runs this suite after deploying a release whose bash tool buffers: exit 3, tree as before."""
    import shutil
    import subprocess

    target = tmp_path / "prod" / "computer_use_demo"
    shutil.copytree(ROOT / "examples" / "computer_use_demo", target, ignore=shutil.ignore_patterns("__pycache__"))
    backups = tmp_path / "backups"
    common = ["--target", str(target), "--backup-dir", str(backups)]

    def integrate(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(script), *common, *args], capture_output=True, text=True,
                              timeout=240, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})

    fresh_manifest = tmp_path / "streaming-1.0.0.json"  # the shipped one may lag the sources while developing
    built = subprocess.run([sys.executable, str(ROOT / "integrate_streaming.py"), "--build-manifest", "--version",
                            "1.0.0", "--output", str(fresh_manifest)], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    good_run = integrate(ROOT / "integrate_streaming.py", "--manifest", str(fresh_manifest), "--integrate", "--all",
                         "--no-verify", "--enable-unified-streaming=true")
    assert good_run.returncode == 0, good_run.stdout + good_run.stderr
    before = _tree(target)

    broken_project = tmp_path / "broken-project"
    for item in ("dc_impl", "dc_deploy", "dc_verify", "manifests", "integrate_streaming.py", "verify_streaming.py"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, broken_project / item)
    apply_breakage(broken_project, "bash-buffers")
    manifest = broken_project / "manifests" / "streaming-9.9.9.json"
    built = subprocess.run([sys.executable, str(broken_project / "integrate_streaming.py"), "--build-manifest",
                            "--version", "9.9.9", "--output", str(manifest)], capture_output=True, text=True,
                           timeout=120)
    assert built.returncode == 0, built.stderr
    bad_run = integrate(broken_project / "integrate_streaming.py", "--manifest", str(manifest), "--integrate",
                        "--bash-tool", "--enable-streaming-bash=true", "--verify-timeout", "120")
    assert bad_run.returncode == 3, bad_run.stdout + bad_run.stderr
    assert "bash_streaming" in bad_run.stdout + bad_run.stderr
    after = _tree(target)
    assert after.keys() == before.keys()
    assert [k for k in before if before[k] != after[k]] == []
    listing = integrate(ROOT / "integrate_streaming.py", "--list-backups", "--json")
    doc = json.loads(listing.stdout)
    backups_list = doc["backups"] if isinstance(doc, dict) else doc
    newest = max(backups_list, key=lambda b: (b["created_at"], b["id"]))
    assert newest["status"] in ("FAILED", "ROLLED_BACK")



def _descendants(root: int) -> list[int]:
    from dc_impl.tools.procs import descendants

    return descendants(root)


def test_verifier_killed_as_a_group_leaves_no_child_or_tool_process(fresh: Path) -> None:
    """The installer SIGKILLs the verifier's process group on timeout: nothing of ours may survive."""
    import signal
    import subprocess

    bash = fresh / "dc_impl" / "tools" / "dc_bash.py"  # a tool call that starts a session, then hangs
    bash.write_text(bash.read_text() + (
        "\n\n_hang_orig = StreamingBashTool.__call__\n\n\n"
        "async def _hang(self, *args, **kwargs):\n"
        "    import asyncio\n"
        "    await _hang_orig(self, command='sleep 300 & echo started')\n"
        "    await asyncio.sleep(300)\n\n\n"
        "StreamingBashTool.__call__ = _hang\n"))
    proc = subprocess.Popen([sys.executable, str(ROOT / "verify_streaming.py"), "--target", str(fresh), "--json",
                             "--check", "bash_exit_code"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    seen: set[int] = set()
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:  # wait until the check's bash session and its sleeps exist
            below = _descendants(proc.pid)
            seen.update(below)
            if any(_cmdline(p).startswith("sleep 300") for p in below):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the check never started its command")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and [p for p in seen if _alive(p)]:
        time.sleep(0.05)
    assert [(p, _cmdline(p)) for p in seen if _alive(p)] == []


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""
