"""The runtime's one door to the metrics component (``dc_impl/metrics/``), which may not be deployed.

The ``metrics`` component is optional: a tree deployed without it has no ``dc_impl/metrics``
package, and then everything here is a no-op that costs nothing. With it, ``DC_METRICS_DIR`` decides
whether anything is written (see ``dc_impl/metrics/__init__.py`` and docs/metrics.md).

What calls what:

* the unified loop: ``emit = with_metrics(emit)`` (records requests, tokens, retries and tool calls
  from its stream events) and, around its run, ``with loop_records_tools(): ...`` so our tools do
  not record the same call a second time;
* our tools (bash, editor, computer): ``@records_calls`` on their ``__call__`` -- a call is recorded
  by the tool itself only when no unified loop records it (upstream's loop, or a tool used on its
  own), so no call is counted twice;
* the screenshot tool: ``screenshot_phase("capture" | "settle" | "encode", seconds)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import importlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from types import ModuleType
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")


class _NamedTool(Protocol):
    name: Any  # the tool's API name (a ClassVar on our tools)


def _import(name: str) -> ModuleType | None:
    package = f"{__package__}.metrics"
    try:
        return importlib.import_module(f"{package}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == package:  # the metrics component is not deployed: no metrics at all
            return None
        log.warning("metrics disabled: %s.%s does not import: %r", package, name, exc)
        return None
    except Exception as exc:  # deployed but broken: no metrics, and say why once
        log.warning("metrics disabled: %s.%s does not import: %r", package, name, exc)
        return None


_sink = _import("loop_sink")
_recorders = _import("recorder") if _sink is not None else None
AVAILABLE = _sink is not None and _recorders is not None

# Set while the unified loop runs (the metrics package's own variable when it is deployed).
LOOP_RECORDS_TOOLS: contextvars.ContextVar[bool] = (
    _sink.LOOP_RECORDS_TOOLS if _sink is not None
    else contextvars.ContextVar("dc_loop_records_tools", default=False))


def with_metrics(emit: Callable[[Any], None] | None) -> Callable[[Any], None] | None:
    """``emit`` that also feeds the metrics; ``emit`` itself when the metrics component is absent or
    ``DC_METRICS_DIR`` is unset."""
    if _sink is None:
        return emit
    wrapped: Callable[[Any], None] | None = _sink.with_metrics(emit)
    return wrapped


def _recorder() -> Any:
    """The process's recorder for ``DC_METRICS_DIR`` when it records, else None."""
    if _recorders is None:
        return None
    rec = _recorders.get_recorder()
    return rec if rec.enabled else None


@contextlib.contextmanager
def loop_records_tools() -> Iterator[None]:
    """While inside, tool calls are recorded from the loop's events, not by the tools themselves
    (the tool tasks the loop starts inherit this)."""
    token = LOOP_RECORDS_TOOLS.set(True)
    try:
        yield
    finally:
        LOOP_RECORDS_TOOLS.reset(token)


def _outcome(result: Any) -> str:
    return "error" if getattr(result, "error", None) else "ok"


async def recorded_call(tool: str, call: Awaitable[T]) -> T:
    """Await ``call`` (one call of tool ``tool``) and record its duration and outcome -- unless the
    unified loop records tool calls in this context, or metrics are off."""
    rec = None if LOOP_RECORDS_TOOLS.get() else _recorder()
    if rec is None:
        return await call
    t0 = time.monotonic()
    outcome = "error"
    try:
        result = await call
        outcome = _outcome(result)
        return result
    except asyncio.CancelledError:
        outcome = "interrupted"
        raise
    finally:
        try:
            rec.tool_call(tool, outcome, time.monotonic() - t0)
        except Exception:  # metrics never break a tool
            log.exception("metrics: recording a %s call failed", tool)


def records_calls(
    method: Callable[Concatenate[Any, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]:
    """Decorator for a tool's ``async __call__``: each call goes through ``recorded_call`` under the
    tool's ``name``."""

    @functools.wraps(method)
    async def call(self: _NamedTool, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await recorded_call(str(self.name), method(self, *args, **kwargs))

    return call


def screenshot_phase(phase: str, seconds: float) -> None:
    """One phase of a screenshot (``capture``, ``settle``, ``encode``); written with the call's record."""
    rec = _recorder()
    if rec is not None:
        try:
            rec.screenshot(phase, seconds)
        except Exception:  # metrics never break a tool
            log.exception("metrics: recording the screenshot %s phase failed", phase)


__all__ = ["AVAILABLE", "LOOP_RECORDS_TOOLS", "loop_records_tools", "recorded_call", "records_calls",
           "screenshot_phase", "with_metrics"]
