"""What the managed block at the end of the host's ``loop.py`` calls: ``install(globals())``.

After ``install(ns)``:
- ``ns["_dc_original_sampling_loop"]`` is the host's own ``sampling_loop``;
- ``ns["sampling_loop"]`` is a dispatcher with the same keyword signature (plus an optional
  ``stream_callback``) that reads the toggles at *each* call: ``use_unified_streaming`` on -> the
  unified streaming loop; off -> the original (the unified loop's extra keywords are dropped). A flip
  of the toggles file therefore takes effect at the next call, without a restart;
- ``ns["TOOL_GROUPS_BY_VERSION"]`` is a read-only mapping that, at each lookup, returns the host's
  ``ToolGroup`` with the streaming bash / editor / computer classes swapped in per
  ``use_streaming_bash`` / ``use_streaming_file`` / ``use_streaming_screenshot`` (``substitution``;
  so even the original loop uses them);
- ``ns["DC_STREAMING_HOOK"] == {"version": ..., "installed": True}`` for verification.

Installing twice changes nothing (no double wrapping). The unified loop is imported at the first call
that needs it, so ``install`` itself does almost nothing that could fail (this module needs only the
core package: ``contract``, ``toggles``, ``substitution``); if that import does fail (the unified loop
is not deployed, or is broken), the call falls back to the original loop and logs why.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from . import __version__
from .contract import HOOK_NAMESPACE_KEY, USE_UNIFIED_STREAMING
from .substitution import substitute_group
from .toggles import current

log = logging.getLogger(__name__)

HOOK_MARKER = "__dc_streaming_dispatcher__"
UNIFIED_ONLY_KWARGS = ("stream_callback", "eager_tools", "tools", "retry_policy", "tool_concurrency")


class ToggledToolGroups(Mapping[str, Any]):
    """The host's tool groups, with streaming tools substituted per the toggles at each lookup."""

    def __init__(self, base: Mapping[str, Any]) -> None:
        self.base = base

    def __getitem__(self, version: str) -> Any:
        group = self.base[version]
        state = current()
        try:
            return substitute_group(group, state)
        except Exception:  # a broken streaming tool must not stop the agent: host tools then
            log.exception("streaming tool substitution failed; using the host's tools")
            return group

    def __iter__(self) -> Iterator[str]:
        return iter(self.base)

    def __len__(self) -> int:
        return len(self.base)

    def __repr__(self) -> str:
        return f"ToggledToolGroups({self.base!r})"


def _dispatcher(original: Callable[..., Any]) -> Callable[..., Any]:
    async def sampling_loop(**kwargs: Any) -> Any:
        if current().enabled(USE_UNIFIED_STREAMING):
            try:
                from .unified_streaming_loop import sampling_loop as unified
            except Exception:
                log.exception("unified streaming loop unavailable; using the original loop")
            else:
                return await unified(**kwargs)
        for name in UNIFIED_ONLY_KWARGS:
            kwargs.pop(name, None)
        return await original(**kwargs)

    sampling_loop.__doc__ = original.__doc__
    sampling_loop.__module__ = getattr(original, "__module__", __name__)
    sampling_loop.__qualname__ = getattr(original, "__qualname__", "sampling_loop")
    try:
        sig = inspect.signature(original)
        if "stream_callback" not in sig.parameters:
            extra = inspect.Parameter("stream_callback", inspect.Parameter.KEYWORD_ONLY, default=None)
            sig = sig.replace(parameters=[*sig.parameters.values(), extra])
        sampling_loop.__signature__ = sig  # type: ignore[attr-defined]  # a function takes any attribute; inspect reads this one
    except (TypeError, ValueError):
        pass
    setattr(sampling_loop, HOOK_MARKER, True)
    return sampling_loop


def install(ns: dict[str, Any]) -> None:
    """Wrap ``sampling_loop`` and ``TOOL_GROUPS_BY_VERSION`` of the loop module whose globals are ``ns``."""
    installed = ns["sampling_loop"]
    original = ns["_dc_original_sampling_loop"] if getattr(installed, HOOK_MARKER, False) else installed
    ns["_dc_original_sampling_loop"] = original
    ns["sampling_loop"] = _dispatcher(original)

    groups = ns.get("TOOL_GROUPS_BY_VERSION")
    if isinstance(groups, ToggledToolGroups):
        groups = groups.base
    if groups is not None:
        ns["TOOL_GROUPS_BY_VERSION"] = ToggledToolGroups(groups)
    ns[HOOK_NAMESPACE_KEY] = {"version": __version__, "installed": True}


__all__ = ["HOOK_MARKER", "ToggledToolGroups", "install"]
