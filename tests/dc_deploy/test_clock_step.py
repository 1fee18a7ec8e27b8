"""A real clock step (Debian's ``faketime``, one day back) between two deploys does not reorder backups.

The step is given as an absolute start time one day before this process's clock (``faketime -f
"@..."``, which then advances), not as ``-f -1d``: a relative offset is taken from the real clock, so
under an outer ``faketime`` (the suite is run that way to find date-dependent tests) it would not be
a step back at all."""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dc_deploy.digest import tree_digest

FAKETIME = shutil.which("faketime")
pytestmark = pytest.mark.skipif(FAKETIME is None, reason="needs Debian's faketime")


def test_second_deploy_one_day_behind(snapshot: Path, manifest: Path, target: Path, tmp_path: Path,
                                      cli_env: dict[str, str]) -> None:
    base = [sys.executable, str(snapshot / "integrate_streaming.py"), "--target", str(target), "--backup-dir",
            str(tmp_path / "backups"), "--manifest", str(manifest), "--no-verify", "--no-progress"]

    def cli(*args: str, behind: bool = False) -> dict | list:
        argv, env = [*base, *args, "--json"], cli_env
        if behind:
            start = _dt.datetime.now(_dt.UTC) - _dt.timedelta(days=1)
            argv = [str(FAKETIME), "-f", start.strftime("@%Y-%m-%d %H:%M:%S"), *argv]
            env = {**cli_env, "TZ": "UTC"}
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    pristine = tree_digest(target)
    first = cli("--integrate", "--bash-tool", "--enable-streaming-bash=true")["backup_id"]  # type: ignore[call-overload]
    after_first = tree_digest(target)
    second = cli("--integrate", "--file-tool", "--enable-streaming-file=true",  # type: ignore[call-overload]
                 behind=True)["backup_id"]
    listing = cli("--list-backups")
    assert [b["id"] for b in listing] == [second, first]  # type: ignore[index]
    assert listing[0]["created_at"] < listing[1]["created_at"]  # type: ignore[index]  # the clock did step back
    res = cli("--restore", "latest")
    assert res["restored_from"] == second  # type: ignore[call-overload]
    assert tree_digest(target) == after_first
    status = cli("--status")
    assert status["components"] == ["core", "loop-hook", "bash-tool"]  # type: ignore[call-overload]
    assert status["drift"] == []  # type: ignore[call-overload]
    cli("--restore", first)
    assert tree_digest(target) == pristine  # nothing mixed: no file-tool module left behind
    status = cli("--status")
    assert status["installed"] is False and not (target / "dc_impl" / "tools").exists()  # type: ignore[call-overload]
