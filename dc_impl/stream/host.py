"""Upstream helpers the unified loop shares with the host tree's ``loop.py``.

Deployed as ``computer_use_demo/dc_impl`` (this module is ``computer_use_demo.dc_impl.stream.host``), the host's own ``SYSTEM_PROMPT``, ``APIProvider``,
``_inject_prompt_caching``, ``_maybe_filter_to_n_most_recent_images`` and ``_make_api_tool_result`` are
used, so prompts, caching, image truncation and result rendering stay exactly the host's. Standalone
(or when the host module cannot be imported), equivalents written from upstream's documented behaviour
are used. Only helpers are imported from the host: never its ``sampling_loop``, which the hook replaces.
"""

from __future__ import annotations

import importlib
import logging
import platform
from datetime import datetime
from enum import StrEnum
from types import ModuleType
from typing import Any

from .._compat import ToolResult

log = logging.getLogger(__name__)

PROMPT_CACHING_BETA_FLAG = "prompt-caching-2024-07-31"
TOKEN_EFFICIENT_TOOLS_BETA_FLAG = "token-efficient-tools-2025-02-19"
INTERLEAVED_THINKING_BETA_FLAG = "interleaved-thinking-2025-05-14"


class _OwnAPIProvider(StrEnum):
    ANTHROPIC = "anthropic"
    BEDROCK = "bedrock"
    VERTEX = "vertex"


_OWN_SYSTEM_PROMPT = f"""<SYSTEM_CAPABILITY>
* You are utilising a Linux machine using {platform.machine()} architecture.
* You can use the bash tool to run commands; the shell keeps its working directory and environment between calls.
* When a command is expected to print a lot of text, redirect it into a temporary file and inspect it with the \
editor tool or `grep -n -B <lines before> -A <lines after> <query> <filename>`.
* GUI applications need DISPLAY=:1 and a subshell, for example "(DISPLAY=:1 xterm &)".
* The current date is {datetime.today().strftime("%A, %B %-d, %Y")}.
</SYSTEM_CAPABILITY>"""


def _own_inject_prompt_caching(messages: list[dict[str, Any]]) -> None:
    """Cache breakpoints on the 3 most recent user turns; the breakpoint before them is removed."""
    breakpoints_remaining = 3
    for message in reversed(messages):
        if message["role"] == "user" and isinstance(content := message["content"], list) and content:
            if breakpoints_remaining:
                breakpoints_remaining -= 1
                content[-1]["cache_control"] = {"type": "ephemeral"}
            else:
                if isinstance(content[-1], dict):
                    content[-1].pop("cache_control", None)
                break  # only one turn is added per iteration


def _own_filter_images(messages: list[dict[str, Any]], images_to_keep: int, min_removal_threshold: int) -> None:
    """Drop all but the newest ``images_to_keep`` tool-result images, in chunks of the threshold."""
    if images_to_keep is None:
        return
    results = [item for message in messages
               for item in (message["content"] if isinstance(message["content"], list) else [])
               if isinstance(item, dict) and item.get("type") == "tool_result"]
    total = sum(1 for r in results for c in (r.get("content") or [])
                if isinstance(c, dict) and c.get("type") == "image")
    to_remove = total - images_to_keep
    if min_removal_threshold:
        to_remove -= to_remove % min_removal_threshold
    for r in results:
        if not isinstance(r.get("content"), list):
            continue
        kept = []
        for c in r["content"]:
            if isinstance(c, dict) and c.get("type") == "image" and to_remove > 0:
                to_remove -= 1
                continue
            kept.append(c)
        r["content"] = kept


def _own_prepend_system(result: ToolResult, text: str) -> str:
    return f"<system>{result.system}</system>\n{text}" if result.system else text


def _own_make_api_tool_result(result: ToolResult, tool_use_id: str) -> dict[str, Any]:
    """Upstream's rendering: an error sends only the error text with ``is_error``; else text + image."""
    if result.error:
        return {"type": "tool_result", "content": _own_prepend_system(result, result.error),
                "tool_use_id": tool_use_id, "is_error": True}
    content: list[dict[str, Any]] = []
    if result.output:
        content.append({"type": "text", "text": _own_prepend_system(result, result.output)})
    if result.base64_image:
        content.append({"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                     "data": result.base64_image}})
    return {"type": "tool_result", "content": content, "tool_use_id": tool_use_id, "is_error": False}


SYSTEM_PROMPT: str = _OWN_SYSTEM_PROMPT
APIProvider: Any = _OwnAPIProvider
inject_prompt_caching: Any = _own_inject_prompt_caching
filter_to_n_most_recent_images: Any = _own_filter_images
make_api_tool_result: Any = _own_make_api_tool_result

# The package ``dc_impl`` is deployed in (``computer_use_demo``), or None in this checkout (dc_impl on top).
_PARTS = (__package__ or "").split(".")
HOST_PACKAGE: str | None = ".".join(_PARTS[:-2]) if len(_PARTS) > 2 else None


def import_host(name: str) -> ModuleType | None:
    """The host tree's module ``name`` (e.g. ``loop``, ``tools.groups``); None outside a host tree."""
    if HOST_PACKAGE is None:
        return None
    return importlib.import_module(f"{HOST_PACKAGE}.{name}")


_host_loop: ModuleType | None
try:  # inside a host computer_use_demo tree: the host's helpers (module is complete by call time)
    _host_loop = import_host("loop")
except ImportError:
    _host_loop = None
except Exception as exc:  # a host loop.py that fails to import must not take us down with it
    log.warning("host loop helpers unavailable, using our own: %s", exc)
    _host_loop = None

if _host_loop is not None:
    SYSTEM_PROMPT = getattr(_host_loop, "SYSTEM_PROMPT", SYSTEM_PROMPT)
    APIProvider = getattr(_host_loop, "APIProvider", APIProvider)
    inject_prompt_caching = getattr(_host_loop, "_inject_prompt_caching", inject_prompt_caching)
    filter_to_n_most_recent_images = getattr(_host_loop, "_maybe_filter_to_n_most_recent_images",
                                             filter_to_n_most_recent_images)
    make_api_tool_result = getattr(_host_loop, "_make_api_tool_result", make_api_tool_result)
    PROMPT_CACHING_BETA_FLAG = getattr(_host_loop, "PROMPT_CACHING_BETA_FLAG", PROMPT_CACHING_BETA_FLAG)


def make_async_client(provider: Any, api_key: str) -> Any:
    """A new async client for one iteration, like upstream's per-iteration sync client.

    ``AsyncAnthropic`` reads ``ANTHROPIC_BASE_URL`` itself; the cloud clients need their extras only
    when chosen.
    """
    value = getattr(provider, "value", provider)
    if value == "anthropic":
        from anthropic import AsyncAnthropic

        return AsyncAnthropic(api_key=api_key, max_retries=4)
    if value == "vertex":
        from anthropic import AsyncAnthropicVertex

        return AsyncAnthropicVertex()
    if value == "bedrock":
        from anthropic import AsyncAnthropicBedrock

        return AsyncAnthropicBedrock()
    raise ValueError(f"Unknown API provider: {provider!r}")


def is_first_party(provider: Any) -> bool:
    return getattr(provider, "value", provider) == "anthropic"


__all__ = [
    "HOST_PACKAGE", "import_host", "INTERLEAVED_THINKING_BETA_FLAG", "PROMPT_CACHING_BETA_FLAG", "SYSTEM_PROMPT",
    "TOKEN_EFFICIENT_TOOLS_BETA_FLAG", "APIProvider", "filter_to_n_most_recent_images", "inject_prompt_caching",
    "is_first_party", "make_api_tool_result", "make_async_client",
]
