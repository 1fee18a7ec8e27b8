"""Streaming tool substitution: the host's tool classes with ours swapped in, per toggle.

For each of the host's tool classes, ``substitute_tool_classes`` looks at its ``name`` and
``api_type`` and, when the toggle of that kind of tool is on, puts in its place our streaming class
with the *same* API type (so the model sees exactly the same tool definition):

=========  ============================================  ==============================  =========================
kind       host tool names                               toggle                          our classes
=========  ============================================  ==============================  =========================
bash       ``bash``                                      ``use_streaming_bash``          ``tools.dc_bash``
file       ``str_replace_editor``,                       ``use_streaming_file``          ``tools.dc_file``
           ``str_replace_based_edit_tool``
computer   ``computer``                                  ``use_streaming_screenshot``    ``tools.dc_screenshot``
=========  ============================================  ==============================  =========================

A host class whose API type we have no class for (a newer tool version) is kept. A kind whose module
is not deployed (its component was not selected) or does not import keeps the host's tools, and the
log says why once.

Used by the loop hook (``hook.ToggledToolGroups``, so even upstream's own loop gets the streaming
tools) and by the unified loop when it resolves its tool set. It lives in the core package, apart from
both, so neither imports the other through it.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import logging
import threading
from types import ModuleType
from typing import Any, Protocol

from .contract import TOOL_TOGGLES

log = logging.getLogger(__name__)

BASH_NAMES = frozenset({"bash"})
EDIT_NAMES = frozenset({"str_replace_editor", "str_replace_based_edit_tool"})
COMPUTER_NAMES = frozenset({"computer"})
KIND_NAMES: dict[str, frozenset[str]] = {"bash": BASH_NAMES, "file": EDIT_NAMES, "computer": COMPUTER_NAMES}
KIND_MODULES: dict[str, str] = {"bash": "dc_bash", "file": "dc_file", "computer": "dc_screenshot"}

_warned: set[str] = set()
_warned_lock = threading.Lock()


class Toggles(Protocol):
    """What substitution needs of the toggles: ``toggles.ToggleState`` (or anything with ``enabled``)."""

    def enabled(self, feature: str) -> bool: ...


def _warn_once(kind: str, exc: BaseException) -> None:
    with _warned_lock:
        if kind in _warned:
            return
        _warned.add(kind)
    log.warning("streaming %s tool unavailable, the host's tool is used: %s", kind, exc)


def _load(kind: str) -> ModuleType | None:
    module = KIND_MODULES.get(kind)
    if module is None:
        raise ValueError(f"unknown tool kind {kind!r} (expected one of {', '.join(KIND_MODULES)})")
    try:
        return importlib.import_module(f"{__package__}.tools.{module}")
    except Exception as exc:  # not deployed, or broken: keep the host's tools
        _warn_once(kind, exc)
        return None


def _classes_by_api_type(module: ModuleType | None) -> dict[str, type]:
    out: dict[str, type] = {}
    if module is None:
        return out
    for attr, value in vars(module).items():
        if attr.startswith("_"):  # private bases share an API type with a public class
            continue
        api_type = getattr(value, "api_type", None) if inspect.isclass(value) else None
        if isinstance(api_type, str) and callable(getattr(value, "to_params", None)):
            out.setdefault(api_type, value)
    return out


def streaming_classes(kind: str) -> dict[str, type]:
    """API type -> our streaming tool class, for ``kind`` "bash", "file" or "computer" (empty when
    that tool is not deployed)."""
    return _classes_by_api_type(_load(kind))


def _api_type_and_name(cls: type) -> tuple[str | None, str | None]:
    api_type = getattr(cls, "api_type", None)
    name = getattr(cls, "name", None)
    return (api_type if isinstance(api_type, str) else None, name if isinstance(name, str) else None)


def _kind_of(name: str | None) -> str | None:
    for kind, names in KIND_NAMES.items():
        if name in names:
            return kind
    return None


def substitute_tool_classes(classes: list[type], toggles: Toggles) -> list[type]:
    """The same tool list with our streaming classes swapped in (same name and API type) where the
    toggle of their kind is on; classes we have no replacement for stay."""
    on = {kind for kind, feature in TOOL_TOGGLES.items() if toggles.enabled(feature)}
    available: dict[str, dict[str, type]] = {}
    out = []
    for cls in classes:
        api_type, name = _api_type_and_name(cls)
        kind = _kind_of(name)
        replacement = None
        if kind in on and api_type:
            if kind not in available:
                available[kind] = streaming_classes(kind)
            replacement = available[kind].get(api_type)
        out.append(replacement or cls)
    return out


def substitute_group(group: Any, toggles: Toggles) -> Any:
    """A frozen ``ToolGroup`` with its tool classes substituted (``dataclasses.replace``); the group
    itself when nothing changes."""
    tools = substitute_tool_classes(list(group.tools), toggles)
    if tools == list(group.tools):
        return group
    return dataclasses.replace(group, tools=tools)


__all__ = [
    "BASH_NAMES", "COMPUTER_NAMES", "EDIT_NAMES", "KIND_MODULES", "Toggles", "streaming_classes", "substitute_group",
    "substitute_tool_classes",
]
