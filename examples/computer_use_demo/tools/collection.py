"""A collection of tools addressed by API name (upstream's ``tools/collection.py``)."""

from __future__ import annotations

from typing import Any

from .base import BaseAnthropicTool, ToolError, ToolFailure, ToolResult


class ToolCollection:
    """A collection of anthropic-defined tools."""

    def __init__(self, *tools: BaseAnthropicTool) -> None:
        self.tools = tools
        self.tool_map: dict[str, BaseAnthropicTool] = {tool.to_params()["name"]: tool for tool in tools}

    def to_params(self) -> list[dict[str, Any]]:
        return [tool.to_params() for tool in self.tools]

    async def run(self, *, name: str, tool_input: dict[str, Any]) -> ToolResult:
        tool = self.tool_map.get(name)
        if not tool:
            return ToolFailure(error=f"Tool {name} is invalid")
        try:
            return await tool(**tool_input)
        except ToolError as exc:
            return ToolFailure(error=exc.message)
