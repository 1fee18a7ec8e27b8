"""Process start-up of the executables, standard library only (it runs before any dependency is imported).

- ``early_signals()``: from the first line of the script until the CLI takes over, Ctrl-C, SIGTERM and
  SIGHUP print one line and exit 128+N instead of a ``KeyboardInterrupt`` traceback from the middle of an
  import (nothing has been changed that early). ``restore_signals()`` hands back Python's defaults.
- ``ensure_dependencies()``: a script started by a python that lacks our dependencies (the README's
  ``./integrate_streaming.py`` with the system ``python3``) re-executes itself with the project's
  ``.venv/bin/python`` when there is one, or says in one line how to run it (exit 1).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
from collections.abc import Sequence

ENV_REEXEC = "DC_LAUNCH_REEXEC"  # set in the re-executed process: never loop
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
DEPLOY_MODULES = ("click", "rich", "jsonschema", "filelock", "git")


def _early(signum: int, _frame: object) -> None:
    name = signal.Signals(signum).name
    os.write(2, f"error: interrupted by {name} while starting; nothing was changed\n".encode())
    os._exit(128 + signum)


def early_signals() -> None:
    for s in _SIGNALS:
        signal.signal(s, _early)


def restore_signals() -> None:
    """Python's defaults again, but only where ``early_signals`` is still in force (never a caller's own)."""
    for s in _SIGNALS:
        if signal.getsignal(s) is _early:
            signal.signal(s, signal.default_int_handler if s == signal.SIGINT else signal.SIG_DFL)


def missing(modules: Sequence[str]) -> list[str]:
    out = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(name)
    return out


def ensure_dependencies(script: str, modules: Sequence[str] = DEPLOY_MODULES) -> None:
    """Return when ``modules`` are importable; else re-exec with the project's venv python, or exit 1 saying how."""
    lacking = missing(modules)
    if not lacking:
        return
    root = os.path.dirname(os.path.abspath(script))
    venv = os.path.join(root, ".venv")
    venv_python = os.path.join(venv, "bin", "python")
    in_venv = os.path.realpath(sys.prefix) == os.path.realpath(venv)
    if os.access(venv_python, os.X_OK) and not in_venv and not os.environ.get(ENV_REEXEC):
        os.environ[ENV_REEXEC] = "1"
        try:
            os.execv(venv_python, [venv_python, os.path.abspath(script), *sys.argv[1:]])
        except OSError:
            pass  # fall through to the message
    name = os.path.basename(script)
    os.write(2, (f"error: {name} needs its dependencies, and {sys.executable} lacks {', '.join(lacking)} "
                 f"(hint: run `make .venv/.stamp-run` in {root} and this script then uses .venv/bin/python by itself, "
                 f"or `pip install {root}` into the python you run it with)\n").encode())
    sys.exit(1)

