"""A verification that does not finish in time names what hung, instead of "see the failing checks above"
with none printed (issue 11): the verifier gets its own ``--timeout`` a few seconds under the installer's
``--verify-timeout`` and reports the hanging check; a verifier that fails without a failing check is
reported by its one-line ``reason``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from dc_deploy.cli import cli
from dc_deploy.context import Context
from dc_deploy.verifyrun import suite_timeout, verify_command

REPO = Path(__file__).resolve().parents[2]


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_the_verifier_gets_a_timeout_under_the_installers(target: Path) -> None:
    ctx = Context(project_root=REPO, environ={})
    cmd = verify_command(target, ctx, 60.0)
    assert cmd[cmd.index("--timeout") + 1] == "55"
    assert suite_timeout(60.0) == 55.0 and suite_timeout(8.0) == 6.0 and 0 < suite_timeout(0.2) < 0.2


def test_a_hanging_check_is_named_when_verification_times_out(cli_env: dict[str, str], target: Path,
                                                              manifest: Path) -> None:
    base = ["--target", str(target), "--manifest", str(manifest)]
    code, _, err = run(cli_env, "--integrate", "--all", "--no-verify", *base)
    assert code == 0, err
    bash = target / "dc_impl" / "tools" / "dc_bash.py"  # the deployed code now hangs when imported
    bash.write_text(bash.read_text() + "\nimport time as _t\n_t.sleep(600)\n")
    env = {**cli_env, "DC_PROJECT_ROOT": str(REPO)}  # the real verify_streaming.py and dc_verify
    t0 = time.monotonic()
    code, _, err = run(env, "--enable-streaming-bash=true", "--verify-timeout", "12", *base)
    took = time.monotonic() - t0
    assert code == 3, err
    assert took < 20, f"took {took:.1f} s"
    fails = [line.strip() for line in err.splitlines() if line.strip().startswith("FAIL ")]
    assert any(line.startswith("FAIL imports:") and "timed out" in line for line in fails), err
    assert "timed out after 12" not in err  # the verifier reported, it was not killed
    assert json.loads((target / "dc_impl" / "feature_toggles.json").read_text())["use_streaming_bash"] is False


def test_a_failed_verification_without_failing_checks_says_the_verifiers_reason(
        cli_env: dict[str, str], target: Path, manifest: Path) -> None:
    reason = "no check ran: toggles was skipped (not deployed)"
    script = (f"import json, sys; print(json.dumps({{'passed': False, 'checks': [], 'reason': {reason!r}}})); "
              "sys.exit(1)")
    env = {**cli_env, "DC_VERIFY_COMMAND": f"{sys.executable} -c \"{script}\""}
    code, _, err = run(env, "--integrate", "--all", "--target", str(target), "--manifest", str(manifest))
    assert code == 3
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert line.startswith(f"error: verification failed: {reason}; the previous state was restored"), err
    assert "failing checks above" not in err
