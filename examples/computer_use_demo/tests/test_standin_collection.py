"""ToolCollection routing and the version -> tool group table."""

from __future__ import annotations

from typing import Any

import pytest
from computer_use_demo.tools import (
    TOOL_GROUPS,
    TOOL_GROUPS_BY_VERSION,
    BaseAnthropicTool,
    BashTool20241022,
    BashTool20250124,
    ComputerTool20241022,
    ComputerTool20250124,
    EditTool20241022,
    EditTool20250124,
    EditTool20250429,
    ToolCollection,
    ToolError,
    ToolFailure,
    ToolResult,
)


class _Echo(BaseAnthropicTool):
    def to_params(self) -> dict[str, Any]:
        return {"name": "echo", "type": "custom"}

    async def __call__(self, *, text: str = "", fail: bool = False, **kwargs: Any) -> ToolResult:
        if fail:
            raise ToolError(f"refused {text}")
        return ToolResult(output=text)


async def test_routes_by_name_and_reports_invalid_tool() -> None:
    collection = ToolCollection(_Echo())
    assert collection.to_params() == [{"name": "echo", "type": "custom"}]
    assert set(collection.tool_map) == {"echo"}
    assert await collection.run(name="echo", tool_input={"text": "hi"}) == ToolResult(output="hi")
    invalid = await collection.run(name="nope", tool_input={})
    assert isinstance(invalid, ToolFailure) and invalid.error == "Tool nope is invalid"


async def test_tool_error_becomes_failure() -> None:
    failure = await ToolCollection(_Echo()).run(name="echo", tool_input={"text": "x", "fail": True})
    assert isinstance(failure, ToolFailure)
    assert failure.error == "refused x"


def test_tool_result_arithmetic() -> None:
    combined = ToolResult(output="a", system="s") + ToolResult(output="b", error="e")
    assert combined == ToolResult(output="ab", error="e", system="s")
    assert not ToolResult()
    assert ToolResult(system="x")
    assert ToolResult(output="a").replace(error="b") == ToolResult(output="a", error="b")
    with pytest.raises(ValueError):
        _ = ToolResult(base64_image="a") + ToolResult(base64_image="b")


def test_groups_table() -> None:
    assert [group.version for group in TOOL_GROUPS] == [
        "computer_use_20241022",
        "computer_use_20250124",
        "computer_use_20250429",
    ]
    expected = {
        "computer_use_20241022": (
            [ComputerTool20241022, EditTool20241022, BashTool20241022],
            "computer-use-2024-10-22",
        ),
        "computer_use_20250124": (
            [ComputerTool20250124, EditTool20250124, BashTool20250124],
            "computer-use-2025-01-24",
        ),
        "computer_use_20250429": (
            [ComputerTool20250124, EditTool20250429, BashTool20250124],
            "computer-use-2025-01-24",
        ),
    }
    for version, (tools, beta) in expected.items():
        group = TOOL_GROUPS_BY_VERSION[version]
        assert (group.tools, group.beta_flag) == (tools, beta)
    with pytest.raises(AttributeError):
        TOOL_GROUPS_BY_VERSION["computer_use_20250124"].beta_flag = None  # type: ignore[misc]


def test_each_group_builds_a_collection_with_unique_names() -> None:
    for group in TOOL_GROUPS:
        collection = ToolCollection(*(cls() for cls in group.tools))
        assert len(collection.tool_map) == 3
        assert {"computer", "bash"} <= set(collection.tool_map)
