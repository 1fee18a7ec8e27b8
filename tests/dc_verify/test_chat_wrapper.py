"""``python -m dc_verify.chat``: the terminal front end runs on the scripted server by default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")}
    if key:
        env["ANTHROPIC_API_KEY"] = key
    env["COLUMNS"] = "100"
    return subprocess.run([sys.executable, "-m", "dc_verify.chat", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_default_is_one_scripted_demo_turn_rendered_live() -> None:
    proc = _run()
    assert proc.returncode == 0, proc.stderr
    assert "step 3 of 3" in proc.stdout and "time to first token" in proc.stdout
    assert "request violation" not in proc.stderr


def test_scripted_wins_over_a_key_when_asked_and_bad_scenario_is_a_usage_error() -> None:
    proc = _run("--scripted", "--scenario", "text_only", "--prompt", "hello", key="sk-not-used")
    assert proc.returncode == 0, proc.stderr
    bad = _run("--scenario", "no_such_scenario")
    assert bad.returncode == 2 and "error" in bad.stderr and "Traceback" not in bad.stderr


def test_help_shows_both_option_sets() -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "dc_verify.chat", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--scripted" in proc.stdout or "scripted" in proc.stdout
    assert "--prompt" in proc.stdout and "Traceback" not in proc.stderr
