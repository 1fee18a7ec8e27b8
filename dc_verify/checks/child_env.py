"""What a check sees inside the child interpreter (``ChildEnv``); ``dispatch.py`` runs one check there.

A check function takes a ``ChildEnv`` and returns its pass detail (a string), or raises
``CheckFailed(detail)`` / ``CheckSkipped(reason)``. It may be ``async``; each runs in a fresh event
loop under a per-check timeout. Deployed modules are reached only through ``env.impl(...)`` and
``env.host(...)``, never imported by name here, so the same check code verifies the project's own
``dc_impl`` and a deployed ``<package>.dc_impl``.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

CHECK_TIMEOUT_S = 15.0
CHECK_TIMEOUTS = {"live": 60.0}  # a real-API turn may take longer than a scripted one
# The display size the agent's container gives the computer tool (upstream's image: 1024x768).
# Upstream's tool asserts WIDTH and HEIGHT at construction, which every loop turn does.
AGENT_DISPLAY = (("WIDTH", "1024"), ("HEIGHT", "768"))


def ensure_display(environ: MutableMapping[str, str] | None = None) -> str | None:
    """Give the loop the agent's display settings where the caller's environment lacks them.

    Returns the note a check's detail carries when a default was used (None when the caller set both).
    """
    environ = os.environ if environ is None else environ
    missing = [name for name, _ in AGENT_DISPLAY if not environ.get(name)]
    if not missing:
        return None
    for name, default in AGENT_DISPLAY:
        if name in missing:
            environ[name] = default
    size = f"{environ['WIDTH']}x{environ['HEIGHT']}"
    return (f"display {size}: {' and '.join(missing)} not set in this environment, so the agent's default "
            f"({'x'.join(v for _, v in AGENT_DISPLAY)}) was used")


def interpreter_lacks(python: str, module: str, needed_by: str = "the deployed code") -> str:
    """One line for a module the agent's interpreter does not have (not a deployment problem)."""
    top = module.split(".")[0]
    return (f"the interpreter {python} cannot import {module!r} (needed by {needed_by}): run verification in the "
            f"interpreter that runs the agent (--python PATH, e.g. --python /opt/venv/bin/python), or install "
            f"{top} into {python}")


OUR_TOP_LEVEL = ("dc_impl", "dc_deploy", "dc_verify")


def is_ours(module: str, package: str | None, impl_module: str) -> bool:
    """Whether a missing module is part of the deployment (or the project) rather than the interpreter's."""
    top = module.split(".")[0]
    return not top or top in OUR_TOP_LEVEL or top == package or top == impl_module.split(".")[0]


class CheckFailed(Exception):
    """The check ran and the behaviour is wrong; the message is the detail."""


class CheckSkipped(Exception):
    """The check cannot apply here (e.g. the deployed version lacks the feature); the message says why."""


@dataclass
class ScenarioRecord:
    """What one scripted-server run saw: for the aggregate ``loop_validation`` check."""

    scenario: str
    requests: int
    violations: list[str]


@dataclass
class ChildEnv:
    project_root: Path
    target: Path | None
    package: str | None
    impl_module: str
    toggles: dict[str, Any] | None
    components: list[str] | None
    live: bool
    tmp: Path
    scenario_runs: list[ScenarioRecord] = field(default_factory=list)
    display_note: str | None = None  # set when the agent's default display size was used
    display_used: bool = False  # the running check constructed the agent's tools (reset per check)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ChildEnv:
        return cls(
            project_root=Path(payload["project_root"]),
            target=Path(payload["target"]) if payload.get("target") else None,
            package=payload.get("package"),
            impl_module=payload["impl_module"],
            toggles=payload.get("toggles"),
            components=payload.get("components"),
            live=bool(payload.get("live")),
            tmp=Path(tempfile.mkdtemp(prefix="dc-verify-")),
        )

    def impl(self, sub: str) -> ModuleType:
        """A deployed ``dc_impl`` submodule, e.g. ``env.impl("tools.dc_bash")``."""
        return importlib.import_module(f"{self.impl_module}.{sub}")

    def host(self, sub: str) -> ModuleType | None:
        """A module of the host tree (``<package>.loop``), or None without a target."""
        if self.package is None:
            return None
        return importlib.import_module(f"{self.package}.{sub}")

    def installed(self, component: str) -> bool:
        return self.components is None or component in self.components

    def workdir(self, name: str) -> Path:
        path = self.tmp / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
