"""make demo: the step judge (what changed, expectations) and, marked slow, the whole story end to end."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from dc_verify.demo.rollout import PROJECT_COPY_ITEMS, _copy_project
from dc_verify.demo.sandbox import BREAKAGES
from dc_verify.demo.steps import DemoRunner, StepOutcome, diff_snapshots, snapshot_digest, tree_snapshot

ROOT = Path(__file__).resolve().parents[2]


def _runner(tmp_path: Path) -> tuple[DemoRunner, io.StringIO]:
    buf = io.StringIO()
    runner = DemoRunner(Console(file=buf, width=120), tmp_path)
    runner.prepare_target()
    return runner, buf


def test_snapshot_diff_reports_added_changed_removed_and_modes(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("one")
    (tmp_path / "b.txt").write_text("two")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.pyc").write_bytes(b"cache")
    before = tree_snapshot(tmp_path)
    assert set(before) == {"a.txt", "b.txt"}
    (tmp_path / "a.txt").chmod(0o600)
    (tmp_path / "b.txt").unlink()
    (tmp_path / "c.txt").write_text("three")
    after = tree_snapshot(tmp_path)
    assert diff_snapshots(before, after) == (["c.txt"], ["a.txt"], ["b.txt"])
    assert snapshot_digest(before) != snapshot_digest(after)
    assert snapshot_digest(after) == snapshot_digest(tree_snapshot(tmp_path))


def test_step_judges_exit_code_changes_and_toggles(tmp_path: Path) -> None:
    runner, buf = _runner(tmp_path)
    writer = ["-c", f"import pathlib; pathlib.Path({str(runner.target / 'new.txt')!r}).write_text('x')"]
    assert runner.step(1, "writes a file", writer, expect_rc=0, expect_added=["new.txt"])
    assert not runner.step(2, "read-only but writes", writer[:1] + [writer[1].replace("new", "newer")],
                           expect_rc=0, read_only=True)
    assert not runner.step(3, "unchanged expected", ["-c", "import sys; sys.exit(3)"], expect_rc=3,
                           expect_unchanged=True, expect_toggles={"use_streaming_bash": True})
    assert runner.step(4, "exit 3 expected", ["-c", "import sys; sys.exit(3)"], expect_rc=3, expect_unchanged=True)
    statuses = [(o.number, o.status) for o in runner.outcomes]
    assert statuses == [(1, "ok"), (2, "failed"), (3, "failed"), (4, "ok")]
    notes = {o.number: o.note for o in runner.outcomes}
    assert "read-only command changed the tree" in notes[2]
    assert "toggle use_streaming_bash is None, expected True" in notes[3]
    text = buf.getvalue()
    assert "added: new.txt" in text and "Step 4: exit 3 expected" in text and "identical" in text


def test_summary_fails_on_unavailable_or_failed_steps() -> None:
    console = Console(file=io.StringIO(), width=120)
    assert DemoRunner.summary(console, [StepOutcome(1, "a", "ok", "")])
    assert not DemoRunner.summary(console, [StepOutcome(1, "a", "ok", ""), StepOutcome(2, "b", "unavailable", "")])
    assert not DemoRunner.summary(console, [])


def test_broken_release_copy_differs_only_in_the_broken_module(tmp_path: Path) -> None:
    copy = _copy_project(tmp_path / "copy")
    assert {p.name for p in copy.iterdir()} == {i for i in PROJECT_COPY_ITEMS if (ROOT / i).exists()}
    rel, code = BREAKAGES["bash-buffers"]
    from dc_verify.demo.sandbox import apply_breakage

    apply_breakage(copy, "bash-buffers")
    assert (copy / rel).read_text() == (ROOT / rel).read_text() + code
    src_snap, copy_snap = tree_snapshot(ROOT / "dc_impl"), tree_snapshot(copy / "dc_impl")
    assert [k for k in src_snap if src_snap[k] != copy_snap.get(k)] == [rel.removeprefix("dc_impl/")]


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    # --fresh-manifest: while developing, the shipped release manifest may lag the sources (exit 6).
    proc = subprocess.run([sys.executable, "-m", "dc_verify.demo", "--workdir", str(tmp_path / "demo"),
                           "--fresh-manifest"],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "demo completed: every step behaved as expected" in proc.stdout
    for n in range(1, 11):
        assert f"step {n} OK" in proc.stdout
