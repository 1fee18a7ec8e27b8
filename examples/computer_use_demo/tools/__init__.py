"""Tools of the stand-in computer_use_demo tree, exported under upstream's names."""

from __future__ import annotations

from .base import BaseAnthropicTool, CLIResult, ToolError, ToolFailure, ToolResult
from .bash import BashTool20241022, BashTool20250124
from .collection import ToolCollection
from .computer import ComputerTool20241022, ComputerTool20250124
from .edit import EditTool20241022, EditTool20250124, EditTool20250429, EditTool20250728
from .groups import TOOL_GROUPS, TOOL_GROUPS_BY_VERSION, BetaFlag, ToolGroup, ToolVersion

__all__ = [
    "TOOL_GROUPS",
    "TOOL_GROUPS_BY_VERSION",
    "BaseAnthropicTool",
    "BashTool20241022",
    "BashTool20250124",
    "BetaFlag",
    "CLIResult",
    "ComputerTool20241022",
    "ComputerTool20250124",
    "EditTool20241022",
    "EditTool20250124",
    "EditTool20250429",
    "EditTool20250728",
    "ToolCollection",
    "ToolError",
    "ToolFailure",
    "ToolGroup",
    "ToolResult",
    "ToolVersion",
]
