"""How one check is run inside the child interpreter: find it in the check modules, run it (sync or
``async``, in a fresh event loop under its timeout), and turn whatever it does into (status, duration, detail).

The check modules import ``child_env`` (the ``ChildEnv`` they receive); this module imports them, so
``child_env`` never imports a check module.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import live_check, loop_checks, screenshot_checks, toggles_check, tool_checks, ui_checks
from .child_env import (
    CHECK_TIMEOUT_S,
    CHECK_TIMEOUTS,
    CheckFailed,
    CheckSkipped,
    ChildEnv,
    interpreter_lacks,
    is_ours,
)

CheckFn = Callable[[ChildEnv], Any]


def _registry() -> dict[str, CheckFn]:
    reg: dict[str, CheckFn] = {}
    for module in (toggles_check, tool_checks, screenshot_checks, loop_checks, ui_checks, live_check):
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
