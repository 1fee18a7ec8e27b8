"""Run the verification suite: decide what runs, run parent-side checks, run the rest in a child.

The result model is the contract of DESIGN.md: each check has a name, a status (``pass``, ``fail`` or
``skip``), a duration and a one-paragraph detail. The suite passed when nothing failed *and something
was verified*: a run in which no check ran (every selected check skipped, or none selected) or a
target with nothing of ours deployed is a failure with a one-line ``reason`` -- a CI gate must not
pass on nothing.

Checks that touch deployed code run in a *child interpreter* whose ``sys.path`` makes the deployed
package importable exactly as production imports it (``dc_verify/child.py``). The child reports one
JSON line per event on its own stdout; it runs in its own process group and is killed as a group
when ``timeout_s`` passes, and the checks it did not finish are reported as failed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checks import CheckSpec, select_checks, skip_reason
from .checks.deployment import check_imports, check_receipt
from .checks.target import TargetInfo, load_target

PASS, FAIL, SKIP = "pass", "fail", "skip"
STATUSES = (PASS, FAIL, SKIP)
PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHILD_SCRIPT = Path(__file__).resolve().parent / "child.py"
PARENT_CHECKS = {"receipt": check_receipt, "imports": check_imports}
ENV_DROPPED_IN_CHILD = ("DC_TOGGLES_FILE", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str
    duration_s: float
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "duration_s": round(self.duration_s, 3),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class SuiteResult:
    checks: list[CheckResult]
    target: Path | None = None
    duration_s: float = 0.0
    gate: str | None = None  # a failure of the run as a whole (nothing of ours deployed), set by verify()

    @property
    def reason(self) -> str | None:
        """Why the suite did not pass, in one line; None when it passed."""
        if self.gate:
            return self.gate
        failed = self.failed
        if failed:
            return f"{len(failed)} of {len(self.checks)} checks failed: {', '.join(c.name for c in failed)}"
        if not self.checks:
            return "no check selected: nothing was verified (name checks or groups with --check; " \
                   "see verify_streaming.py --list-checks)"
        if not any(c.status == PASS for c in self.checks):
            return f"no check ran: {_skips_summary(self.checks)}"
        return None

    @property
    def passed(self) -> bool:
        return self.reason is None

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == FAIL]

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"passed": self.passed, "checks": [c.to_dict() for c in self.checks]}
        if not self.passed:
            doc["reason"] = self.reason
        return doc


def _skips_summary(checks: Sequence[CheckResult]) -> str:
    """``a, b were skipped (why); c was skipped (why)``: the checks grouped by their skip reason."""
    by_reason: dict[str, list[str]] = {}
    for c in checks:
        by_reason.setdefault(c.detail, []).append(c.name)
    return "; ".join(f"{', '.join(names)} {'was' if len(names) == 1 else 'were'} skipped ({why})"
                     for why, names in by_reason.items())


@dataclass(frozen=True)
class VerifyOptions:
    target: Path | None = None
    checks: tuple[str, ...] = ()  # names or group names; empty = all
    live: bool = False
    timeout_s: float = 60.0
    python: str = field(default_factory=lambda: sys.executable)
    project_root: Path = PROJECT_ROOT


def verify(options: VerifyOptions) -> SuiteResult:
    """Run the selected checks against ``options.target`` (or the project's own ``dc_impl``).

    Raises ``checks.target.TargetError`` / ``checks.UnknownCheckError`` for usage errors.
    """
    t0 = time.monotonic()
    specs = select_checks(options.checks)
    info = load_target(options.project_root, options.target)
    results: dict[str, CheckResult] = {}
    runnable: list[CheckSpec] = []
    for spec in specs:
        reason = skip_reason(spec, info, live=options.live, environ=os.environ)
        if reason is not None:
            results[spec.name] = CheckResult(spec.name, SKIP, 0.0, reason)
        else:
            runnable.append(spec)

    child_names = [s.name for s in runnable if s.where == "child"]
    child: ChildRun | None = None
    if child_names:
        try:
            child = ChildRun.start(options, info, "run", {"checks": child_names})
        except OSError as exc:  # no such interpreter, not executable, ...: the checks fail, the suite goes on
            for name in child_names:
                results[name] = CheckResult(name, FAIL, 0.0, cannot_start(options.python, exc))
    try:
        for spec in runnable:
            if spec.where == "parent":
                results[spec.name] = _run_parent_check(spec, info, options)
    except BaseException:  # Ctrl-C: stop the child now instead of waiting for its checks to finish
        if child is not None:
            child.kill()
        raise
    if child is not None:
        for res in child.wait(child_names):
            results[res.name] = res
    ordered = [results[s.name] for s in specs]
    gate = info.nothing_deployed_reason()
    return SuiteResult(ordered, options.target, time.monotonic() - t0, gate)


def cannot_start(python: str, exc: OSError) -> str:
    return f"cannot start the verification interpreter {python}: {exc.strerror or exc} (pass --python with " \
           "the interpreter that runs the agent)"


def _run_parent_check(spec: CheckSpec, info: TargetInfo, options: VerifyOptions) -> CheckResult:
    t0 = time.monotonic()
    try:
        status, detail = PARENT_CHECKS[spec.name](info, options)
    except OSError as exc:
        if exc.filename is None or str(exc.filename) != options.python:
            status, detail = FAIL, f"check crashed: {type(exc).__name__}: {exc}"
        else:
            status, detail = FAIL, cannot_start(options.python, exc)
    except Exception as exc:  # a crash in a check is a failed check, not a crashed suite
        status, detail = FAIL, f"check crashed: {type(exc).__name__}: {exc}"
    return CheckResult(spec.name, status, time.monotonic() - t0, detail)


def child_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if environ is None else environ)
    for key in ENV_DROPPED_IN_CHILD:
        env.pop(key, None)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def child_payload(info: TargetInfo, options: VerifyOptions, mode: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "mode": mode,
        "project_root": str(options.project_root),
        "target": str(info.root) if info.root else None,
        "package": info.package,
        "impl_module": info.impl_module,
        "toggles": info.toggles,
        "components": sorted(info.components) if info.components is not None else None,
        "live": options.live,
        "parent_pid": os.getpid(),
        **extra,
    }


class ChildRun:
    """One child interpreter reporting JSON lines; killed as a process group on timeout."""

    def __init__(self, proc: subprocess.Popen[bytes], stderr_file: Any, timeout_s: float) -> None:
        self.proc = proc
        self._stderr = stderr_file
        self._deadline = time.monotonic() + timeout_s
        self.timeout_s = timeout_s
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @classmethod
    def start(
        cls, options: VerifyOptions, info: TargetInfo, mode: str, extra: dict[str, Any]
    ) -> ChildRun:
        payload = child_payload(info, options, mode, extra)
        stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stderr_tail()
        proc = subprocess.Popen(
            [options.python, "-I", "-B", str(CHILD_SCRIPT)],  # -B: -I ignores PYTHONDONTWRITEBYTECODE
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            cwd=tempfile.gettempdir(),
            env=child_environment(),
            start_new_session=True,
        )
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(payload).encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        return cls(proc, stderr_file, options.timeout_s)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict):
                self.events.append(event)

    def _finish(self) -> tuple[bool, int | None]:
        """Wait for exit or deadline; returns (timed_out, returncode)."""
        try:
            rc = self.proc.wait(timeout=max(0.0, self._deadline - time.monotonic()))
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(self.proc)
            rc = self.proc.wait()
        except BaseException:  # interrupted while waiting: the child goes too
            self.kill()
            raise
        self._reader.join(timeout=5)
        return timed_out, rc

    def kill(self) -> None:
        """Stop the child's process group now (an interrupted suite); its results are not read."""
        kill_group(self.proc)
        self.proc.wait()
        self._stderr.close()

    def stderr_tail(self, limit: int = 800) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace").strip()
        self._stderr.close()
        return text[-limit:]

    def wait(self, names: Sequence[str]) -> list[CheckResult]:
        timed_out, rc = self._finish()
        tail = self.stderr_tail()
        got: dict[str, CheckResult] = {}
        running: str | None = None
        for ev in self.events:
            if ev.get("event") == "start":
                running = str(ev.get("name"))
            elif ev.get("event") == "result" and ev.get("status") in STATUSES:
                name = str(ev.get("name"))
                got[name] = CheckResult(name, ev["status"], _seconds(ev.get("duration_s")), str(ev.get("detail", "")))
                running = None
        out: list[CheckResult] = []
        for name in names:
            if name in got:
                out.append(got[name])
            elif timed_out and name == running:
                out.append(CheckResult(name, FAIL, self.timeout_s, f"timed out: the verification child was "
                                       f"killed after {self.timeout_s:g} s while this check ran"))
            elif timed_out:
                out.append(CheckResult(name, FAIL, 0.0, f"not run: the verification child was killed after "
                                       f"{self.timeout_s:g} s (while running {running or 'setup'})"))
            else:
                why = f"the verification child exited with code {rc} before reporting this check"
                out.append(CheckResult(name, FAIL, 0.0, f"{why}: {tail}" if tail else why))
        return out

    def wait_mode_result(self) -> tuple[dict[str, Any] | None, str]:
        """For single-document modes (imports): the last ``result`` document, or an explanation."""
        timed_out, rc = self._finish()
        tail = self.stderr_tail()
        docs = [ev for ev in self.events if ev.get("event") == "document"]
        if timed_out:
            return None, f"timed out after {self.timeout_s:g} s"
        if not docs:
            return None, f"child exited with code {rc} without a result" + (f": {tail}" if tail else "")
        return docs[-1], tail


def _seconds(value: Any) -> float:
    """A reported duration, or 0.0 when the child sent something that is not a finite number of seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    value = float(value)
    return value if value >= 0.0 and value != float("inf") else 0.0


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the child's process group, then SIGKILL it if anything is left after a grace second."""
    for sig, grace in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if proc.poll() is not None and not _group_alive(proc.pid):
                return
            time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

