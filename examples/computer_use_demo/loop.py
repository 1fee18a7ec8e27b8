"""Agentic sampling loop that calls the Claude API and the local computer-use tools.

Stand-in for upstream's ``computer_use_demo/loop.py``: request/response (non-streaming), a fresh
client per iteration, tools run one after another once the whole response has arrived.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

import httpx2
from anthropic import (
    Anthropic,
    AnthropicBedrock,
    AnthropicVertex,
    APIError,
    APIResponseValidationError,
    APIStatusError,
)
from anthropic.types.beta import (
    BetaCacheControlEphemeralParam,
    BetaContentBlockParam,
    BetaImageBlockParam,
    BetaMessage,
    BetaMessageParam,
    BetaTextBlock,
    BetaTextBlockParam,
    BetaToolResultBlockParam,
    BetaToolUseBlockParam,
)

from .tools import TOOL_GROUPS_BY_VERSION, ToolCollection, ToolResult, ToolVersion

PROMPT_CACHING_BETA_FLAG = "prompt-caching-2024-07-31"
TOKEN_EFFICIENT_TOOLS_BETA_FLAG = "token-efficient-tools-2025-02-19"


class APIProvider(StrEnum):
    ANTHROPIC = "anthropic"
    BEDROCK = "bedrock"
    VERTEX = "vertex"


# Written for the upstream Docker image and its tool set; adapt it to the environment the agent runs in.
SYSTEM_PROMPT = f"""<SYSTEM_CAPABILITY>
* You are utilising an Ubuntu virtual machine using {platform.machine()} architecture with internet access.
* You can feel free to install Ubuntu applications with your bash tool. Use curl instead of wget.
* To open firefox, please just click on the firefox icon.  Note, firefox-esr is what is installed on your system.
* Using bash tool you can start GUI applications, but you need to set export DISPLAY=:1 and use a subshell. For example "(DISPLAY=:1 xterm &)". GUI apps run with bash tool will appear within your desktop environment, but they may take some time to appear. Take a screenshot to confirm it did.
* When using your bash tool with commands that are expected to output very large quantities of text, redirect into a tmp file and use str_replace_based_edit_tool or `grep -n -B <lines before> -A <lines after> <query> <filename>` to confirm output.
* When viewing a page it can be helpful to zoom out so that you can see everything on the page.  Either that, or make sure you scroll down to see everything before deciding something isn't available.
* When using your computer function calls, they take a while to run and send back to you.  Where possible/feasible, try to chain multiple of these calls all into one function calls request.
* The current date is {datetime.today().strftime("%A, %B %-d, %Y")}.
</SYSTEM_CAPABILITY>

<IMPORTANT>
* When using Firefox, if a startup wizard appears, IGNORE IT.  Do not even click "skip this step".  Instead, click on the address bar where it says "Search or enter address", and enter the appropriate search term or URL there.
* If the item you are looking at is a pdf, if after taking a single screenshot of the pdf it seems that you want to read the entire document instead of trying to continue to read the pdf from your screenshots + navigation, determine the URL, use curl to download the pdf, install and use pdftotext to convert it to a text file, and then use your str_replace_based_edit_tool to read the text file directly.
</IMPORTANT>"""


def _make_client(provider: APIProvider, api_key: str) -> Anthropic | AnthropicVertex | AnthropicBedrock:
    """A new client for this iteration; the cloud clients need their extras only when chosen."""
    if provider == APIProvider.ANTHROPIC:
        return Anthropic(api_key=api_key, max_retries=4)
    if provider == APIProvider.VERTEX:
        return AnthropicVertex()
    if provider == APIProvider.BEDROCK:
        return AnthropicBedrock()
    raise ValueError(f"Unknown API provider: {provider!r}")


async def sampling_loop(
    *,
    model: str,
    provider: APIProvider,
    system_prompt_suffix: str,
    messages: list[BetaMessageParam],
    output_callback: Callable[[BetaContentBlockParam], None],
    tool_output_callback: Callable[[ToolResult, str], None],
    api_response_callback: Callable[
        [httpx2.Request, httpx2.Response | object | None, Exception | None], None
    ],
    api_key: str,
    only_n_most_recent_images: int | None = None,
    max_tokens: int = 4096,
    tool_version: ToolVersion,
    thinking_budget: int | None = None,
    token_efficient_tools_beta: bool = False,
) -> list[BetaMessageParam]:
    """Agentic sampling loop for the assistant/tool interaction of computer use."""
    # Looked up through the module global at call time: a deploy hook may replace the mapping.
    tool_group = TOOL_GROUPS_BY_VERSION[tool_version]
    tool_collection = ToolCollection(*(ToolCls() for ToolCls in tool_group.tools))
    system = BetaTextBlockParam(
        type="text",
        text=f"{SYSTEM_PROMPT}{' ' + system_prompt_suffix if system_prompt_suffix else ''}",
    )

    while True:
        betas: list[str] = [tool_group.beta_flag] if tool_group.beta_flag else []
        if token_efficient_tools_beta:
            betas.append(TOKEN_EFFICIENT_TOOLS_BETA_FLAG)
        image_truncation_threshold = only_n_most_recent_images or 0
        client = _make_client(provider, api_key)
        enable_prompt_caching = provider == APIProvider.ANTHROPIC

        if enable_prompt_caching:
            betas.append(PROMPT_CACHING_BETA_FLAG)
            _inject_prompt_caching(messages)
            # Cached reads cost a tenth: never break the cache by truncating images.
            only_n_most_recent_images = 0
            system["cache_control"] = {"type": "ephemeral"}  # type: ignore[typeddict-unknown-key]

        if only_n_most_recent_images:
            _maybe_filter_to_n_most_recent_images(
                messages, only_n_most_recent_images, min_removal_threshold=image_truncation_threshold
            )
        extra_body: dict[str, Any] = {}
        if thinking_budget:
            extra_body = {"thinking": {"type": "enabled", "budget_tokens": thinking_budget}}

        # The raw response gives the UI the HTTP exchange for debugging.
        try:
            raw_response = client.beta.messages.with_raw_response.create(
                max_tokens=max_tokens,
                messages=messages,
                model=model,
                system=[system],
                tools=tool_collection.to_params(),  # type: ignore[arg-type]
                betas=betas,
                extra_body=extra_body,
            )
        except (APIStatusError, APIResponseValidationError) as exc:
            api_response_callback(exc.request, exc.response, exc)
            return messages
        except APIError as exc:
            api_response_callback(exc.request, exc.body, exc)
            return messages

        api_response_callback(raw_response.http_response.request, raw_response.http_response, None)

        response = raw_response.parse()
        response_params = _response_to_params(response)
        messages.append({"role": "assistant", "content": response_params})

        tool_result_content: list[BetaToolResultBlockParam] = []
        for content_block in response_params:
            output_callback(content_block)
            if content_block["type"] == "tool_use":
                block = cast(BetaToolUseBlockParam, content_block)
                result = await tool_collection.run(
                    name=block["name"], tool_input=cast(dict[str, Any], block["input"])
                )
                tool_result_content.append(_make_api_tool_result(result, block["id"]))
                tool_output_callback(result, block["id"])

        if not tool_result_content:
            return messages

        messages.append({"content": tool_result_content, "role": "user"})


def _maybe_filter_to_n_most_recent_images(
    messages: list[BetaMessageParam], images_to_keep: int, min_removal_threshold: int
) -> list[BetaMessageParam] | None:
    """Drop all but the newest ``images_to_keep`` tool-result images, in chunks of
    ``min_removal_threshold`` so the prompt cache breaks less often. Works in place."""
    if images_to_keep is None:
        return messages

    tool_result_blocks = cast(
        list[BetaToolResultBlockParam],
        [
            item
            for message in messages
            for item in (message["content"] if isinstance(message["content"], list) else [])
            if isinstance(item, dict) and item.get("type") == "tool_result"
        ],
    )
    total_images = sum(
        1
        for tool_result in tool_result_blocks
        for content in tool_result.get("content", [])
        if isinstance(content, dict) and content.get("type") == "image"
    )
    images_to_remove = total_images - images_to_keep
    images_to_remove -= images_to_remove % min_removal_threshold

    for tool_result in tool_result_blocks:
        if not isinstance(tool_result.get("content"), list):
            continue
        kept: list[Any] = []
        for content in tool_result.get("content", []):
            if isinstance(content, dict) and content.get("type") == "image" and images_to_remove > 0:
                images_to_remove -= 1
                continue
            kept.append(content)
        tool_result["content"] = kept
    return None


def _response_to_params(response: BetaMessage) -> list[BetaContentBlockParam]:
    """Turn the response's blocks into request params for the history.

    Upstream quirk kept on purpose: the thinking branch sits inside the text-block branch and can
    never run, so thinking and redacted_thinking blocks fall through to ``model_dump()`` (intact).
    """
    res: list[BetaContentBlockParam] = []
    for block in response.content:
        if isinstance(block, BetaTextBlock):
            if block.text:
                res.append(BetaTextBlockParam(type="text", text=block.text))
            elif getattr(block, "type", None) == "thinking":
                thinking_block: dict[str, Any] = {
                    "type": "thinking",
                    "thinking": getattr(block, "thinking", None),
                }
                if hasattr(block, "signature"):
                    thinking_block["signature"] = getattr(block, "signature", None)
                res.append(cast(BetaContentBlockParam, thinking_block))
        else:
            res.append(cast(BetaToolUseBlockParam, block.model_dump()))
    return res


def _inject_prompt_caching(messages: list[BetaMessageParam]) -> None:
    """Put cache breakpoints on the 3 most recent user turns (one is left for tools/system)."""
    breakpoints_remaining = 3
    for message in reversed(messages):
        if message["role"] == "user" and isinstance(content := message["content"], list):
            if breakpoints_remaining:
                breakpoints_remaining -= 1
                content[-1]["cache_control"] = BetaCacheControlEphemeralParam(  # type: ignore[typeddict-unknown-key]
                    {"type": "ephemeral"}
                )
            else:
                content[-1].pop("cache_control", None)  # type: ignore[typeddict-item]
                # only one extra turn is added per iteration
                break


def _make_api_tool_result(result: ToolResult, tool_use_id: str) -> BetaToolResultBlockParam:
    """Convert a ToolResult to a tool_result block; an error sends only the error text."""
    tool_result_content: list[BetaTextBlockParam | BetaImageBlockParam] | str = []
    is_error = False
    if result.error:
        is_error = True
        tool_result_content = _maybe_prepend_system_tool_result(result, result.error)
    else:
        if result.output:
            tool_result_content.append(
                {"type": "text", "text": _maybe_prepend_system_tool_result(result, result.output)}
            )
        if result.base64_image:
            tool_result_content.append(
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": result.base64_image},
                }
            )
    return {
        "type": "tool_result",
        "content": tool_result_content,
        "tool_use_id": tool_use_id,
        "is_error": is_error,
    }


def _maybe_prepend_system_tool_result(result: ToolResult, result_text: str) -> str:
    if result.system:
        result_text = f"<system>{result.system}</system>\n{result_text}"
    return result_text
