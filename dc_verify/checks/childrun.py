"""The verification child: start it, feed it its payload, read its JSON lines, kill its group on timeout.

Checks that touch deployed code run in a *child interpreter* whose ``sys.path`` makes the deployed
package importable exactly as production imports it (``dc_verify/child.py``). The child reports one
JSON line per event on its own stdout; it runs in its own process group and is killed as a group
when ``timeout_s`` passes, and the checks it did not finish are reported as failed.

Used by the runner (the child checks) and by the parent-side ``imports`` check; it imports only
``target.py``, so neither of them imports the other.
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

from .target import TargetInfo

PASS, FAIL, SKIP = "pass", "fail", "skip"
STATUSES = (PASS, FAIL, SKIP)
PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHILD_SCRIPT = Path(__file__).resolve().parents[1] / "child.py"
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
class VerifyOptions:
    target: Path | None = None
    checks: tuple[str, ...] = ()  # names or group names; empty = all
    live: bool = False
    timeout_s: float = 60.0
    python: str = field(default_factory=lambda: sys.executable)
    project_root: Path = PROJECT_ROOT


def cannot_start(python: str, exc: OSError) -> str:
    return f"cannot start the verification interpreter {python}: {exc.strerror or exc} (pass --python with " \
           "the interpreter that runs the agent)"


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

