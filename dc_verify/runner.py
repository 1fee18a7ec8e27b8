"""Run the verification suite: decide what runs, run parent-side checks, run the rest in a child.

The result model is the contract of docs/verification.md: each check has a name, a status (``pass``,
``fail`` or ``skip``), a duration and a one-paragraph detail. The suite passed when nothing failed
*and something was verified*: a run in which no check ran (every selected check skipped, or none
selected) or a target with nothing of ours deployed is a failure with a one-line ``reason`` -- a CI
gate must not pass on nothing.

The child interpreter that runs the checks touching deployed code is ``checks/childrun.py``'s ``ChildRun``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checks import CheckSpec, select_checks, skip_reason
from .checks.childrun import FAIL, PASS, SKIP, STATUSES, CheckResult, ChildRun, VerifyOptions, cannot_start
from .checks.deployment import check_imports, check_receipt
from .checks.target import TargetInfo, load_target

__all__ = ["FAIL", "PASS", "SKIP", "STATUSES", "CheckResult", "SuiteResult", "VerifyOptions", "verify"]

PARENT_CHECKS = {"receipt": check_receipt, "imports": check_imports}


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
