"""Tool result types: the host tree's when deployed inside it, our own otherwise.

Deployed as ``computer_use_demo/dc_impl``, the relative import ``..tools.base`` resolves to the
host's ``computer_use_demo.tools.base`` so the host's ``ToolCollection`` catches our ``ToolError``
and renders our ``ToolResult``. Run standalone (the project's own ``dc_impl``), the relative import
fails and the compatible definitions below are used instead; they mirror upstream's field for field.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from dataclasses import dataclass, fields, replace
from typing import Any

# The two ``type: ignore`` kinds below are the point of this module: ``..tools.base`` exists only once
# deployed into a host tree (import-not-found for the checker), and the fallback classes deliberately
# redefine the same names (no-redef) so the rest of dc_impl sees one set of names either way.
try:  # inside a host computer_use_demo tree
    from ..tools.base import (  # type: ignore[import-not-found]  # the host's module: present only when deployed
        BaseAnthropicTool,
        CLIResult,
        ToolError,
        ToolFailure,
        ToolResult,
    )

    IN_HOST_TREE = True
except ImportError:  # standalone: same shapes as upstream's tools/base.py
    IN_HOST_TREE = False

    class BaseAnthropicTool(metaclass=ABCMeta):  # type: ignore[no-redef]
        """Abstract base class for Anthropic-defined tools."""

        @abstractmethod
        def __call__(self, **kwargs: Any) -> Any: ...

        @abstractmethod
        def to_params(self) -> dict[str, Any]: ...

    @dataclass(kw_only=True, frozen=True)
    class ToolResult:  # type: ignore[no-redef]
        """Represents the result of a tool execution."""

        output: str | None = None
        error: str | None = None
        base64_image: str | None = None
        system: str | None = None

        def __bool__(self) -> bool:
            return any(getattr(self, f.name) for f in fields(self))

        def __add__(self, other: ToolResult) -> ToolResult:
            def combine(a: str | None, b: str | None, concatenate: bool = True) -> str | None:
                if a and b:
                    if concatenate:
                        return a + b
                    raise ValueError("Cannot combine tool results")
                return a or b

            return ToolResult(
                output=combine(self.output, other.output),
                error=combine(self.error, other.error),
                base64_image=combine(self.base64_image, other.base64_image, False),
                system=combine(self.system, other.system),
            )

        def replace(self, **kwargs: Any) -> ToolResult:
            return replace(self, **kwargs)

    class CLIResult(ToolResult):  # type: ignore[no-redef]
        """A ToolResult that can be rendered as a CLI output."""

    class ToolFailure(ToolResult):  # type: ignore[no-redef]
        """A ToolResult that represents a failure."""

    class ToolError(Exception):  # type: ignore[no-redef]
        """Raised when a tool encounters an error."""

        def __init__(self, message: str) -> None:
            super().__init__(message)
            self.message = message


__all__ = ["IN_HOST_TREE", "BaseAnthropicTool", "CLIResult", "ToolError", "ToolFailure", "ToolResult"]
