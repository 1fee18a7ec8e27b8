"""Streaming tool substitution: the host's tool classes with ours swapped in (same name and API type).

TEMPORARY (16A): the functions moved out of hook.py so that the unified loop can import them without
importing the hook; the signature ``(classes, toggles)`` is the one 16B's substitution.py has, whose
version replaces this file at merge.

Used by the loop hook (``hook.ToggledToolGroups``, so even the original loop gets the streaming tools)
and by the unified loop's tool sets (``stream/runner.py``).
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

BASH_NAMES = frozenset({"bash"})
EDIT_NAMES = frozenset({"str_replace_editor", "str_replace_based_edit_tool"})


def _classes_by_api_type(module: ModuleType | None) -> dict[str, type]:
    out: dict[str, type] = {}
    if module is None:
        return out
    for value in vars(module).values():
        api_type = getattr(value, "api_type", None) if inspect.isclass(value) else None
        if isinstance(api_type, str) and callable(getattr(value, "to_params", None)):
            out.setdefault(api_type, value)
    return out


def _load(name: str) -> ModuleType | None:
    try:
        if name == "bash":
            from .tools import dc_bash as module
        else:
            from .tools import dc_file as module
    except Exception as exc:  # not deployed, or broken: keep the host's tools
        log.warning("streaming %s tool unavailable: %s", name, exc)
        return None
    return module


def streaming_classes(kind: str) -> dict[str, type]:
    """API type -> streaming tool class, for ``kind`` "bash" or "file"."""
    return _classes_by_api_type(_load(kind))


def _api_type_and_name(cls: type) -> tuple[str | None, str | None]:
    api_type = getattr(cls, "api_type", None)
    name = getattr(cls, "name", None)
    return (api_type if isinstance(api_type, str) else None, name if isinstance(name, str) else None)


def substitute_tool_classes(classes: list[type], toggles: Any) -> list[type]:
    """The same tool list with streaming classes swapped in (same name and API type) per toggle."""
    bash = streaming_classes("bash") if toggles.enabled("use_streaming_bash") else {}
    file = streaming_classes("file") if toggles.enabled("use_streaming_file") else {}
    out = []
    for cls in classes:
        api_type, name = _api_type_and_name(cls)
        replacement = None
        if name in BASH_NAMES and api_type:
            replacement = bash.get(api_type)
        elif name in EDIT_NAMES and api_type:
            replacement = file.get(api_type)
        out.append(replacement or cls)
    return out


def substitute_group(group: Any, toggles: Any) -> Any:
    """A frozen ``ToolGroup`` with its tool classes substituted (``dataclasses.replace``)."""
    tools = substitute_tool_classes(list(group.tools), toggles)
    if tools == list(group.tools):
        return group
    return dataclasses.replace(group, tools=tools)


__all__ = ["BASH_NAMES", "EDIT_NAMES", "streaming_classes", "substitute_group", "substitute_tool_classes"]
