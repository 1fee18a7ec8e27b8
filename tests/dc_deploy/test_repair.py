"""``--repair``: the recovery hints of an invalid toggles file and an unreadable journal lead somewhere
(issue 11 item 7). End to end: real installer processes, a real SIGKILL mid-transaction, real files.

Before: an invalid ``feature_toggles.json`` was answered with "restore it with --restore latest" (which
undid the last deployment, loop hook included, and left the toggles invalid); a truncated journal
made every command fail, ``--restore`` included, with a hint pointing back at ``--restore``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dc_deploy.digest import DEFAULT_EXCLUDE, tree_digest

REPO = Path(__file__).resolve().parents[2]
JOURNAL = ".dc-streaming-journal.json"
TOGGLES = "dc_impl/feature_toggles.json"
HOOK_MARK = b">>> claude-dc-streaming loop hook"


@pytest.fixture
def cli(cli_env: dict[str, str], target: Path, manifest: Path):  # type: ignore[no-untyped-def]
    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(REPO / "integrate_streaming.py"), "--target", str(target),
                               "--manifest", str(manifest), "--no-progress", *args], capture_output=True, text=True,
                              timeout=180, env=env or cli_env)
    return run


def _ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_invalid_toggles_hint_names_repair_and_repair_rebuilds_them(cli, target: Path,  # type: ignore[no-untyped-def]
                                                                    tmp_path: Path) -> None:
    _ok(cli("--integrate", "--all", "--no-verify", "--enable-unified-streaming=true"))
    receipt = json.loads((target / "dc_impl" / "receipt.json").read_text())
    assert receipt["toggles"]["use_unified_streaming"] is True  # the receipt records what it wrote
    thinking = not receipt["toggles"]["use_streaming_thinking"]
    _ok(cli(f"--enable-streaming-thinking={str(thinking).lower()}", "--no-verify"))  # audited, not in the receipt
    good = json.loads((target / TOGGLES).read_text())
    loop_before = (target / "loop.py").read_bytes()
    assert HOOK_MARK in loop_before

    broken = b'{"revision": 7, "use_streaming_bash": "yes", '  # hand-edited and cut off
    (target / TOGGLES).write_bytes(broken)
    refused = cli("--enable-streaming-bash=false", "--no-verify")
    assert refused.returncode == 2
    assert "--repair" in refused.stderr and "--restore latest" not in refused.stderr
    status = json.loads(_ok(cli("--status", "--json")).stdout)
    assert status["toggles_error"] and "--repair" in _ok(cli("--status")).stdout

    repaired = _ok(cli("--repair", "--json"))  # with verification (the project snapshot's import check)
    doc = json.loads(repaired.stdout)
    assert doc["command"] == "repair" and doc["journal"] is None
    t = doc["toggles"]
    assert t["verification"]["passed"] is True
    assert "receipt" in t["source"] and "1 later write(s)" in t["source"]
    now = json.loads((target / TOGGLES).read_text())
    assert {k: v for k, v in now.items() if k != "revision"} == {k: v for k, v in good.items() if k != "revision"}
    assert now["use_streaming_thinking"] is thinking and now["use_unified_streaming"] is True
    assert now["revision"] == 8  # past every revision seen, the broken file's 7 included
    assert (target / "loop.py").read_bytes() == loop_before  # the hook stays; nothing else was touched
    listing = json.loads(_ok(cli("--list-backups", "--json")).stdout)
    kept = Path((listing["backups"] if isinstance(listing, dict) else listing)[0]["path"])  # newest first
    assert (kept / "files" / TOGGLES).read_bytes() == broken  # the evidence is in the repair's backup
    status = json.loads(_ok(cli("--status", "--json")).stdout)
    assert status["toggles_error"] is None and status["drift"] == []
    _ok(cli("--enable-streaming-bash=false", "--no-verify"))  # flips work again
    again = json.loads(_ok(cli("--repair", "--json")).stdout)
    assert again["toggles"] is None and again["journal"] is None  # nothing to repair
    assert "nothing to repair" in _ok(cli("--repair")).stdout


def test_deleted_toggles_file_is_recreated(cli, target: Path) -> None:  # type: ignore[no-untyped-def]
    _ok(cli("--integrate", "--bash-tool", "--no-verify", "--enable-streaming-bash=true"))
    (target / TOGGLES).unlink()
    out = _ok(cli("--repair", "--no-verify")).stdout
    assert "toggles repaired" in out
    assert json.loads((target / TOGGLES).read_text())["use_streaming_bash"] is True


def test_unreadable_journal_is_set_aside_and_the_tree_put_back(cli, cli_env: dict[str, str],  # type: ignore[no-untyped-def]
                                                               target: Path) -> None:
    _ok(cli("--integrate", "--bash-tool", "--no-verify"))
    before = tree_digest(target)
    # A real crash half-way through the next deployment (SIGKILL after the first file replaced) ...
    crash = cli("--integrate", "--file-tool", "--no-verify", env={**cli_env, "DC_FAILPOINT": "after_replace:2"})
    assert crash.returncode == -signal.SIGKILL
    raw = (target / JOURNAL).read_bytes()
    assert tree_digest(target) != before
    # ... and the journal it left truncated (a disk error, a hand edit).
    (target / JOURNAL).write_bytes(raw[: len(raw) // 2])
    cut = (target / JOURNAL).read_bytes()

    for args in (["--integrate", "--all", "--no-verify"], ["--restore", "latest"],
                 ["--enable-streaming-bash=true", "--no-verify"], ["--prune-backups", "--keep", "3"]):
        proc = cli(*args)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert "unreadable" in proc.stderr and "--repair" in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert "--repair" in _ok(cli("--status")).stdout
    assert "--repair" in _ok(cli("--list-backups")).stdout

    dry = json.loads(_ok(cli("--repair", "--dry-run", "--json")).stdout)
    assert dry["journal"]["set_aside_as"] is None and (target / JOURNAL).read_bytes() == cut

    doc = json.loads(_ok(cli("--repair", "--json")).stdout)
    j = doc["journal"]
    aside = Path(j["set_aside_as"])
    assert aside == target / f"{JOURNAL}.corrupt-1" and aside.read_bytes() == cut  # evidence kept
    assert not (target / JOURNAL).exists()
    assert j["backup_id"] and j["not_at_before_state"] and j["verdict"].startswith("half-changed")
    assert j["next"].startswith(f"integrate_streaming.py --restore {j['backup_id']}")

    _ok(cli("--restore", j["backup_id"]))  # the command the report names works in that state
    assert tree_digest(target, DEFAULT_EXCLUDE | {aside.name}) == before
    status = json.loads(_ok(cli("--status", "--json")).stdout)
    assert status["drift"] == [] and status["interrupted"] is None and sorted(status["components"]) == ["bash-tool",
                                                                                               "core", "loop-hook"]
    _ok(cli("--integrate", "--file-tool", "--no-verify"))  # and the operator continues


def test_unreadable_journal_over_a_consistent_tree(cli, target: Path) -> None:  # type: ignore[no-untyped-def]
    _ok(cli("--integrate", "--bash-tool", "--no-verify"))
    before = tree_digest(target)
    for n in (1, 2):
        (target / JOURNAL).write_bytes(b"\x00" * 17)  # garbage, no backup named
        out = _ok(cli("--repair"))
        assert "set aside as" in out.stdout and f"corrupt-{n}" in out.stdout
        assert "the tree matches its receipt" in out.stdout and "next:" not in out.stdout, out.stdout
        assert (target / f"{JOURNAL}.corrupt-{n}").read_bytes() == b"\x00" * 17
    assert tree_digest(target, DEFAULT_EXCLUDE | {f"{JOURNAL}.corrupt-1", f"{JOURNAL}.corrupt-2"}) == before
    _ok(cli("--enable-streaming-bash=true", "--no-verify"))
