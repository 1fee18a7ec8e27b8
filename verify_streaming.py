#!/usr/bin/env python3
"""Verify the streaming components: ``verify_streaming.py [--target DIR] [--json] [--check NAME] ...``.

Thin executable: puts the project root on ``sys.path`` and calls ``dc_verify.cli.main()``. Started by a
python that lacks the suite's dependencies (the system ``python3`` of the shebang), it re-executes
itself with the project's ``.venv/bin/python`` when there is one -- except when the installer started
it (``DC_VERIFY_PARENT_PID``): that run must stay in the interpreter it was given -- or says in one
line how to run it (exit 1).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))


def _ensure_dependencies() -> None:
    lacking = [m for m in ("anthropic", "click", "rich") if importlib.util.find_spec(m) is None]
    if not lacking:
        return
    venv_python = ROOT / ".venv" / "bin" / "python"
    in_venv = Path(sys.prefix).resolve() == (ROOT / ".venv").resolve()
    if (os.access(venv_python, os.X_OK) and not in_venv and not os.environ.get("DC_LAUNCH_REEXEC")
            and not os.environ.get("DC_VERIFY_PARENT_PID")):
        os.environ["DC_LAUNCH_REEXEC"] = "1"
        os.execv(venv_python, [str(venv_python), str(ROOT / "verify_streaming.py"), *sys.argv[1:]])
    sys.stderr.write(f"error: verify_streaming.py needs its dependencies, and {sys.executable} lacks "
                     f"{', '.join(lacking)} (hint: run `make .venv/.stamp-run` in {ROOT} and this script then uses "
                     f".venv/bin/python by itself, or `pip install {ROOT}` into the python you run it with)\n")
    sys.exit(1)


if __name__ == "__main__":
    _ensure_dependencies()
    from dc_verify.cli import main

    main()
