"""Run the verification suite as a child process, in its own process group, with a timeout.

Default command: ``[python, <project>/verify_streaming.py, --target, T, --json, --timeout, S, --python,
AGENT]``, S a few seconds under ``--verify-timeout`` (``suite_timeout``): a check that hangs is
then cut by the verifier itself, which reports it by name as a failing check, before this process
would have to kill the verifier with nothing to show. The verifier itself runs in the installer's
interpreter, and its check child (which imports the deployed loop) in the agent's interpreter ``ctx.agent_python`` (``--python`` or the receipt's; the
installer's own when neither). While verify_streaming.py does not exist, the deployed imports are
checked in the agent's interpreter instead (``_importcheck.py``). ``DC_VERIFY_COMMAND`` (a
shell-quoted command line, ``{target}`` and ``{python}`` substituted) overrides it. The child never
writes bytecode into the target. On timeout the whole group is killed.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dc_impl.contract import ENV_VERIFY_PARENT_PID
from dc_impl.tools import procs

from . import failpoints
from .context import Context

ENV_COMMAND = "DC_VERIFY_COMMAND"
MISSING_MARK = "cannot import"  # in a check's detail when the agent's interpreter lacks a module


@dataclass
class VerifyResult:
    passed: bool
    returncode: int | None
    timed_out: bool
    duration_s: float
    command: list[str]
    checks: list[dict[str, Any]] = field(default_factory=list)
    output_tail: str = ""
    python: str = ""
    reason: str = ""  # the verifier's one-line "reason" when the suite did not pass (e.g. no check ran)

    @property
    def failing(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if str(c.get("status", "")).lower() not in ("pass", "passed", "ok", "skip",
                                                                                    "skipped")]

    def summary(self) -> str:
        if self.timed_out:
            return f"verification timed out after {self.duration_s:.1f}s and was killed"
        if self.passed:
            return f"verification passed ({len(self.checks)} checks, {self.duration_s:.1f}s)"
        if not self.failing and self.reason:
            return f"verification failed: {self.reason}"
        names = ", ".join(str(c.get("name")) for c in self.failing) or f"exit status {self.returncode}"
        for c in self.failing:  # the agent's interpreter lacks a module: that one line says it all
            detail = str(c.get("detail", ""))
            if MISSING_MARK in detail:
                return f"verification failed ({names}): {detail.split('; ')[0]}"
        return f"verification failed: {names}"

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "summary": self.summary(), "returncode": self.returncode, "timed_out": self.timed_out,
                "duration_s": round(self.duration_s, 3), "command": self.command, "checks": self.checks,
                "failing": self.failing, "output_tail": self.output_tail, "python": self.python}


def agent_python(ctx: Context) -> str:
    return ctx.agent_python or sys.executable


def suite_timeout(verify_timeout: float) -> float:
    """The verifier's own ``--timeout``: under ours by 5 s (a quarter of it when shorter), so it can report."""
    return max(0.1, verify_timeout - min(5.0, verify_timeout / 4))


def verify_command(target: Path, ctx: Context, verify_timeout: float) -> list[str]:
    python = agent_python(ctx)
    override = ctx.environ.get(ENV_COMMAND)
    if override:
        return [part.replace("{target}", str(target)).replace("{python}", python) for part in shlex.split(override)]
    script = ctx.project_root / "verify_streaming.py"
    if script.exists():
        return [sys.executable, str(script), "--target", str(target), "--json",
                "--timeout", f"{suite_timeout(verify_timeout):g}", "--python", python]
    return [python, str(Path(__file__).resolve().parent / "_importcheck.py"), str(target)]


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    procs.kill_group(proc.pid)
    proc.wait()


def run_verification(target: Path, ctx: Context, timeout: float) -> VerifyResult:
    cmd = verify_command(target, ctx, timeout)
    env = dict(ctx.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env[ENV_VERIFY_PARENT_PID] = str(os.getpid())  # the verifier dies with us (see dc_verify.cli)
    env.pop(failpoints.ENV, None)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    try:
        failpoints.hit("verify_started")
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return VerifyResult(False, None, True, time.monotonic() - t0, cmd, python=agent_python(ctx))
    except BaseException:
        _kill_group(proc)
        raise
    text = out.decode(errors="replace")
    checks: list[dict[str, Any]] = []
    doc = _last_json(text)
    if isinstance(doc, dict) and isinstance(doc.get("checks"), list):
        checks = [c for c in doc["checks"] if isinstance(c, dict)]
    reason = doc.get("reason") if isinstance(doc, dict) else None
    reason = reason if isinstance(reason, str) else ""
    passed = proc.returncode == 0
    tail = "" if passed else text[-2000:]
    return VerifyResult(passed, proc.returncode, False, time.monotonic() - t0, cmd, checks, tail, agent_python(ctx),
                        "" if passed else reason)


def _last_json(text: str) -> Any:
    """The JSON document in the child's output (the whole output, or its last line that parses)."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    for line in reversed(text.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None
