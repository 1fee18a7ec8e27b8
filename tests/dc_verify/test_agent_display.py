"""Loop checks run with the agent's display settings when the caller's shell has none (issue 12 item 6).

Upstream's computer tool asserts ``WIDTH``/``HEIGHT`` when a turn builds its tools; verifying from a
shell without them used to fail every loop check with the bare ``AssertionError``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dc_verify.checks import GROUPS
from dc_verify.checks.child_env import ensure_display
from dc_verify.demo.sandbox import make_deployment
from dc_verify.runner import VerifyOptions, verify

ROOT = Path(__file__).resolve().parents[2]
LOOP_CHECKS = tuple(n for n in GROUPS["loop"])


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_deployment(tmp_path_factory.mktemp("display"), ROOT)


def _run(target: Path) -> dict[str, tuple[str, str]]:
    suite = verify(VerifyOptions(target=target, checks=("loop",)))
    return {c.name: (c.status, c.detail) for c in suite.checks}


def test_standin_tool_asserts_like_upstream_in_the_deployed_tree(deployed: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The reproduction is faithful: the deployed tree's computer tool refuses to build without a size."""
    import subprocess
    import sys

    monkeypatch.delenv("WIDTH", raising=False)
    monkeypatch.delenv("HEIGHT", raising=False)
    code = "from computer_use_demo.tools import ComputerTool20250124 as T; T()"
    proc = subprocess.run([sys.executable, "-c", code], cwd=deployed.parent, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == "AssertionError: WIDTH, HEIGHT must be set"


def test_loop_checks_without_width_height_use_the_agents_defaults(deployed: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WIDTH", raising=False)
    monkeypatch.delenv("HEIGHT", raising=False)
    results = _run(deployed)
    assert set(results) == set(LOOP_CHECKS)
    assert {n: s for n, (s, _) in results.items()} == dict.fromkeys(LOOP_CHECKS, "pass"), results
    for name in LOOP_CHECKS:
        if name == "loop_validation":  # aggregates the other runs; builds no tools itself
            continue
        detail = results[name][1]
        assert "display 1024x768" in detail and "WIDTH and HEIGHT not set" in detail, (name, detail)
        assert "AssertionError" not in detail


def test_caller_display_settings_are_kept_and_not_mentioned(deployed: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIDTH", "1280")
    monkeypatch.setenv("HEIGHT", "800")
    results = _run(deployed)
    assert all(s == "pass" for s, _ in results.values()), results
    assert not any("display" in d for _, d in results.values()), results


def test_ensure_display_fills_only_what_is_missing() -> None:
    env = {"WIDTH": "1920"}
    note = ensure_display(env)
    assert env == {"WIDTH": "1920", "HEIGHT": "768"}
    assert note is not None and "display 1920x768" in note and "HEIGHT not set" in note
    assert ensure_display(env) is None
    empty: dict[str, str] = {}
    assert "WIDTH and HEIGHT not set" in (ensure_display(empty) or "")
    assert empty == {"WIDTH": "1024", "HEIGHT": "768"}
