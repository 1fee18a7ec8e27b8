"""Python modules the deployed components need in the agent's interpreter (``python_requires``).

A component of the manifest may name top-level import names its code needs beyond ``anthropic``
(the screenshot tool: ``mss`` and ``PIL``; the metrics: ``prometheus_client``). Before anything
changes, ``--integrate`` checks that the interpreter that runs the agent (``--python``, else the one
the receipt recorded, else the installer's own) can find each of them; a missing one is a usage
error (exit 2) naming the module, the component, the interpreter and the ``pip install`` that fixes
it. Modules are *found*, not imported (``importlib.util.find_spec``), in the same isolated probe
``agent_python`` runs for what upstream's loop imports.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping

from .agent_python import InterpreterError, probe
from .launch import missing
from .manifest import Manifest

# import name -> the distribution pip installs it from, where the two differ
PIP_NAMES = {"PIL": "Pillow"}


def requirements(manifest: Manifest, component_ids: Iterable[str]) -> dict[str, str]:
    """Import name -> the first component (in ``component_ids`` order) that needs it."""
    needs: dict[str, str] = {}
    for cid in component_ids:
        for module in manifest.components[cid].python_requires:
            needs.setdefault(module, cid)
    return needs




def missing_modules(python: str, modules: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """Which of ``modules`` ``python`` cannot find (the installer's own interpreter is asked in process)."""
    if not modules:
        return []
    if os.path.abspath(python) == os.path.abspath(sys.executable):
        return missing(modules)
    return probe(python, modules, environ).missing


def check(manifest: Manifest, component_ids: Iterable[str], python: str,
          environ: Mapping[str, str] | None = None) -> None:
    """``InterpreterError`` (exit 2) naming the first module ``python`` lacks for ``component_ids``."""
    needs = requirements(manifest, component_ids)
    missing = missing_modules(python, sorted(needs), environ)
    if not missing:
        return
    first = sorted(missing, key=lambda m: list(needs).index(m))[0]
    component = needs[first]
    packages = " ".join(sorted({PIP_NAMES.get(m, m) for m in missing}))
    others = [m for m in missing if m != first]
    also = f" (also missing: {', '.join(others)})" if others else ""
    raise InterpreterError(
        f"component {component!r} needs the Python module {first!r}, which the agent interpreter {python} does not "
        f"have{also}; nothing was changed",
        hint=f"{python} -m pip install {packages}, or deploy without the {component} component",
        python=python, missing=missing, component=component)


__all__ = ["PIP_NAMES", "check", "missing_modules", "requirements"]
