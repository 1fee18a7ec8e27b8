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
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")


class _NamedTool(Protocol):
    name: Any  # the tool's API name (a ClassVar on our tools)

try:
    from .metrics.loop_sink import LOOP_RECORDS_TOOLS, with_metrics
    from .metrics.recorder import Recorder, get_recorder
except Exception as _exc:  # the metrics component is not deployed (or broken): no metrics at all
    AVAILABLE = False
    if not isinstance(_exc, ImportError):
        log.warning("metrics disabled: dc_impl.metrics does not import: %r", _exc)
    LOOP_RECORDS_TOOLS: contextvars.ContextVar[bool] = contextvars.ContextVar(  # type: ignore[no-redef]
        "dc_loop_records_tools", default=False)  # same meaning as the metrics package's, which is absent

    def with_metrics(emit: Callable[[Any], None] | None) -> Callable[[Any], None] | None:  # type: ignore[misc]
        """``emit`` unchanged: the metrics component is not deployed."""
        return emit

    def _recorder() -> Any:
        return None
else:
    AVAILABLE = True

    def _recorder() -> Recorder | None:
        rec = get_recorder()
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
