"""What a check sees inside the child interpreter, and how one check is run there.

A check function takes a ``ChildEnv`` and returns its pass detail (a string), or raises
``CheckFailed(detail)`` / ``CheckSkipped(reason)``. It may be ``async``; each runs in a fresh event
loop under a per-check timeout. Deployed modules are reached only through ``env.impl(...)`` and
``env.host(...)``, never imported by name here, so the same check code verifies the project's own
``dc_impl`` and a deployed ``<package>.dc_impl``.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, MutableMapping
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


CheckFn = Callable[[ChildEnv], Any]


def _registry() -> dict[str, CheckFn]:
    from . import live_check, loop_checks, toggles_check, tool_checks, ui_checks

    reg: dict[str, CheckFn] = {}
    for module in (toggles_check, tool_checks, loop_checks, ui_checks, live_check):
        reg.update(module.CHECKS)
    return reg


def _short_traceback(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"check crashed: {type(exc).__name__}: {exc}{where}"


async def _run_async(fn: CheckFn, env: ChildEnv, timeout: float) -> Any:
    return await asyncio.wait_for(fn(env), timeout)


def run_one(name: str, env: ChildEnv, timeout: float | None = None) -> tuple[str, float, str]:
    """Run check ``name``; returns (status, duration_s, detail). Never raises."""
    timeout = timeout if timeout is not None else CHECK_TIMEOUTS.get(name, CHECK_TIMEOUT_S)
    t0 = time.monotonic()
    env.display_used = False
    try:
        registry = _registry()
        if name not in registry:
            raise CheckFailed(f"this dc_verify has no implementation of check {name!r}")
        fn = registry[name]
        detail = asyncio.run(_run_async(fn, env, timeout)) if inspect.iscoroutinefunction(fn) else fn(env)
        status = "pass"
    except CheckFailed as exc:
        status, detail = "fail", str(exc)
    except CheckSkipped as exc:
        status, detail = "skip", str(exc)
    except TimeoutError:
        status, detail = "fail", f"timed out after {timeout:g} s"
    except ModuleNotFoundError as exc:
        if exc.name and not is_ours(exc.name, env.package, env.impl_module):
            status, detail = "fail", interpreter_lacks(sys.executable, exc.name)
        else:
            status, detail = "fail", f"deployed module missing: {exc}"
    except Exception as exc:
        status, detail = "fail", _short_traceback(exc)
    detail = str(detail)
    if env.display_used and env.display_note:
        detail = f"{detail} ({env.display_note})" if detail else env.display_note
    return status, time.monotonic() - t0, detail
