"""The agent's interpreter (``--python PATH``): checked before any change, recorded in the receipt.

Verification must run the deployed loop where the agent runs: a container's ``/opt/venv/bin/python``,
not the interpreter running the installer (which may lack what upstream's ``loop.py`` imports, e.g.
``httpx``). This module

- validates ``--python`` before anything changes: it must exist, be executable and be a Python at
  least as new as ``dc_impl`` needs (``UsageError``, exit 2, one line);
- probes that interpreter for every top-level module the target's loop imports unconditionally
  (the closure of ``loop.py`` through the package's own modules) plus ``anthropic`` (the streaming
  components' only dependency), so a missing one is named with the interpreter and the fix before a
  backup is even taken;
- picks the interpreter a command verifies with: ``--python``, else the one the receipt recorded,
  else the installer's own.

The path is kept as given (made absolute, symlinks not resolved: a venv's ``python`` is a symlink
whose target lacks the venv's packages).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .manifest import LOOP_FILE

MIN_VERSION = (3, 11)
PROBE_TIMEOUT_S = 30.0
COMPONENT_NEEDS = ("anthropic",)  # what dc_impl imports (docs/architecture.md: the runtime needs only anthropic)
# Prints the version and which of argv's top-level modules cannot be found (found, not imported).
PROBE = (
    "import importlib.util as u, json, sys\n"
    "def found(n):\n"
    "    try:\n"
    "        return u.find_spec(n) is not None\n"
    "    except (ImportError, ValueError):\n"
    "        return False\n"
    "print('DC-PYTHON-PROBE ' + json.dumps({'version': list(sys.version_info[:3]), "
    "'missing': [n for n in sys.argv[1:] if not found(n)]}))\n"
)
FIX_HINT = ("pass the interpreter that runs the agent with --python PATH (e.g. --python /opt/venv/bin/python), "
            "install the module into {python}, or skip verification with --no-verify")


class InterpreterError(UsageError):
    code = "python-invalid"


@dataclass(frozen=True)
class Probe:
    python: str
    version: tuple[int, ...]
    missing: list[str]


def normalize(raw: str, *, recorded: bool = False) -> str:
    """``--python`` as an absolute path (a bare name is looked up on PATH); exit 2 when unusable.

    ``recorded``: the path came from the receipt (the message says so, and how to replace it).
    """
    label = f"the agent interpreter {raw} recorded in the receipt" if recorded else f"--python {raw}"
    example = "pass the interpreter that runs the agent, e.g. --python /opt/venv/bin/python"
    hint = f"{example} (the next --integrate records it)" if recorded else example
    text = raw.strip()
    if not text:
        raise InterpreterError("--python needs a path to a Python interpreter", hint=example)
    if os.sep not in text:
        found = shutil.which(text)
        if found is None:
            raise InterpreterError(f"{label}: not found on PATH; nothing was changed", hint=hint)
        text = found
    path = os.path.abspath(os.path.expanduser(text))
    if not os.path.exists(path):
        raise InterpreterError(f"{label}: no such file; nothing was changed", hint=hint)
    if os.path.isdir(path):
        raise InterpreterError(f"{label}: is a directory, not an interpreter; nothing was changed",
                               hint=f"e.g. --python {os.path.join(path, 'bin', 'python')}")
    if not os.access(path, os.X_OK):
        raise InterpreterError(f"{label}: not executable; nothing was changed",
                               hint="pass the interpreter itself (e.g. /opt/venv/bin/python), or chmod +x it")
    return path


def probe(python: str, modules: list[str], environ: Mapping[str, str] | None = None) -> Probe:
    """Run ``python -I`` once: its version and which of ``modules`` it cannot find."""
    env = {k: v for k, v in (os.environ if environ is None else environ).items()
           if not k.startswith("PYTHON")}
    not_python = f"--python {python}: not a Python interpreter"
    try:
        proc = subprocess.run([python, "-I", "-c", PROBE, *modules], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=PROBE_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired as exc:
        raise InterpreterError(f"{not_python} (it did not answer within {PROBE_TIMEOUT_S:g} s); nothing was "
                               "changed", hint="pass the interpreter that runs the agent") from exc
    except OSError as exc:
        raise InterpreterError(f"{not_python} ({exc.strerror or exc}); nothing was changed",
                               hint="pass the interpreter that runs the agent") from exc
    for line in proc.stdout.splitlines():
        if line.startswith("DC-PYTHON-PROBE "):
            try:
                doc = json.loads(line.split(" ", 1)[1])
                version = tuple(int(v) for v in doc["version"])
                missing = [str(m) for m in doc["missing"]]
            except (ValueError, KeyError, TypeError):
                break
            if version < MIN_VERSION:
                want = ".".join(map(str, MIN_VERSION))
                raise InterpreterError(f"--python {python} is Python {'.'.join(map(str, version))}; the streaming "
                                       f"components need Python {want} or newer; nothing was changed",
                                       hint="pass the interpreter that runs the agent")
            return Probe(python, version, missing)
    said = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1][:200]
    raise InterpreterError(f"{not_python} (running it with -c failed: {said}); nothing was changed",
                           hint="pass the interpreter that runs the agent, e.g. --python /opt/venv/bin/python")


def _module_file(base: Path, parts: list[str]) -> Path | None:
    path = base.joinpath(*parts) if parts else base
    if path.is_dir() and (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file() and parts:
        return path.with_suffix(".py")
    return None


def _unconditional_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Module-level imports that always run (not under ``try``/``if``: those are optional or conditional)."""
    out: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop(0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.append(node)
        elif isinstance(node, ast.With):
            stack[:0] = node.body
    return out


def loop_requirements(target: Path) -> dict[str, str]:
    """Top-level modules the target's loop needs from the interpreter -> the file that imports each.

    Follows ``loop.py`` through the package's own modules (relative imports and absolute imports of
    the package's own name); everything else is a requirement of the interpreter.
    """
    package = target.name
    needs: dict[str, str] = {}
    start = target / LOOP_FILE
    queue = [start] if start.is_file() else []
    seen: set[Path] = set()
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (OSError, SyntaxError, ValueError):
            continue  # verification reports a broken file; this only looks for missing modules
        rel = path.relative_to(target).as_posix()
        pkg_dir = path.parent
        for node in _unconditional_imports(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = pkg_dir
                for _ in range(node.level - 1):
                    base = base.parent
                parts = node.module.split(".") if node.module else []
                targets = [_module_file(base, parts)] + [_module_file(base, [*parts, a.name]) for a in node.names]
                queue += [t for t in targets if t is not None and t.is_relative_to(target)]
                continue
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            for name in names:
                top, *rest = name.split(".")
                if top == package:
                    subs = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
                    found = [_module_file(target, rest)] + [_module_file(target, [*rest, sub]) for sub in subs]
                    queue += [f for f in found if f is not None]
                elif top and top != "__future__" and top not in sys.builtin_module_names:
                    needs.setdefault(top, rel)
    return needs


def check_modules(python: str, target: Path, environ: Mapping[str, str] | None = None) -> Probe:
    """Probe ``python`` for what the deployed loop needs; ``InterpreterError`` naming the first gap."""
    needs = loop_requirements(target)
    for name in COMPONENT_NEEDS:
        needs.setdefault(name, "dc_impl (the streaming components)")
    result = probe(python, sorted(needs), environ)
    if result.missing:
        listed = ", ".join(f"{m} (imported by {needs[m]})" for m in result.missing)
        raise InterpreterError(
            f"verification runs the agent loop in {python}, which has no module {listed}; nothing was changed",
            hint=FIX_HINT.format(python=python), python=python, missing=result.missing)
    return result


def effective(given: str | None, recorded: str | None) -> tuple[str, str]:
    """(interpreter, where it came from): ``--python``, the receipt, or the installer's own."""
    if given:
        return given, "--python"
    if recorded:
        return recorded, "receipt"
    return sys.executable, "installer"
