from __future__ import annotations

import pytest

from dc_impl._compat import IN_HOST_TREE, CLIResult, ToolError, ToolFailure, ToolResult


def test_standalone_uses_own_types():
    assert IN_HOST_TREE is False


def test_tool_result_shape_matches_upstream():
    r = ToolResult(output="a", system="s")
    assert bool(r) and not bool(ToolResult())
    combined = r + ToolResult(output="b", error="e")
    assert (combined.output, combined.error, combined.system) == ("ab", "e", "s")
    with pytest.raises(ValueError):
        ToolResult(base64_image="x") + ToolResult(base64_image="y")
    assert r.replace(output="z").output == "z"
    assert isinstance(CLIResult(output="x"), ToolResult) and isinstance(ToolFailure(error="x"), ToolResult)
    assert ToolError("boom").message == "boom"
